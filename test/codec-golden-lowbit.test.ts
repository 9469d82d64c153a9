// Every golden case of NVFP4, Q1_0 and Q2_0: quantized bytes identical to
// llama.cpp's ggml_quantize_chunk, dequantized floats bit-identical (the
// golden helper compares bytes exactly and floats bit for bit).
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases, readGoldenBytes, readGoldenF32 } from "./golden.js";
import { dequantize, quantize } from "../src/quant/index.js";

for (const type of ["NVFP4", "Q1_0", "Q2_0"]) {
  const cases = goldenCases(type);
  test(`golden ${type}: ${cases.length} cases`, () => {
    // 6 distributions without an imatrix, the same 6 with the synthetic one,
    // gaussian x synthetic_with_zeros, real weights x real imatrix
    assert.equal(cases.length, 14, `${type} should have 14 golden cases`);
    assert.equal(cases.filter((c) => c.imatrix).length, 8);
    const failures: string[] = [];
    for (const c of cases) {
      try {
        checkGoldenCase(c);
      } catch (e) {
        failures.push(`${c.name}: ${(e as Error).message.split("\n")[0]!}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test(`golden ${type}: dequantized floats equal bit for bit, NaN payloads included`, () => {
    for (const c of cases) {
      const got = dequantize(type, readGoldenBytes(c.quantized), c.rows, c.cols);
      const want = readGoldenF32(c.dequantized);
      assert.ok(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), c.name);
    }
  });
}

// Edge cases the golden inputs do not reach, against a plain scalar port of
// ggml's C (quantize_row_*_ref: every candidate scanned, f32 rounding via
// Math.fround): UE4M3 subnormal and clamped scales, E2M1 mid-points and ties,
// Q2_0 scales whose reciprocal overflows, -0 signs.
const f = Math.fround;
const KV = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

function ue4m3ToF32(x: number): number {
  if (x === 0 || x === 0x7f) return 0;
  const exp = (x >> 3) & 0xf, man = x & 7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  return f(raw * 0.5);
}

function f32ToUe4m3(x: number): number {
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const fe = ((bits >>> 23) & 0xff) - 127;
  let e = fe + 7;
  if (e <= 0) {
    let man = Math.trunc(f(f(x * 512) + 0.5));
    if (man > 7) man = 7;
    return man < 1 ? 0 : man;
  }
  if (e >= 15) return 0x7e;
  let man = ((bits >>> 20) & 7) + ((bits >>> 19) & 1);
  if (man > 7) { man = 0; e++; if (e >= 15) return 0x7e; }
  return (e << 3) | man;
}

function bestIndexC(x: number, d: number): number {
  let best = 0, bestErr = Math.abs(f(f(KV[0]! * d) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(f(KV[i]! * d) - x));
    if (err < bestErr) { best = i; bestErr = err; }
  }
  return best;
}

function nvfp4C(x: Float32Array): Uint8Array {
  const y = new Uint8Array((x.length / 64) * 36);
  for (let i = 0; i < x.length / 64; i++) {
    for (let s = 0; s < 4; s++) {
      const o = i * 64 + s * 16;
      let amax = 0;
      for (let j = 0; j < 16; j++) if (amax < Math.abs(x[o + j]!)) amax = Math.abs(x[o + j]!);
      const ue = f32ToUe4m3(f(amax / 6));
      y[i * 36 + s] = ue;
      const d = ue4m3ToF32(ue);
      for (let j = 0; j < 8; j++) y[i * 36 + 4 + s * 8 + j] = bestIndexC(x[o + j]!, d) | (bestIndexC(x[o + 8 + j]!, d) << 4);
    }
  }
  return y;
}

/** Q2_0 codes and the float scale d of each block (d's fp16 bytes are checked through the F16 codec). */
function q2_0C(x: Float32Array): { qs: Uint8Array; d: Float32Array } {
  const nb = x.length / 64;
  const qs = new Uint8Array(nb * 16), dd = new Float32Array(nb);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 64; j++) { const a = Math.abs(x[i * 64 + j]!); if (a > amax) amax = a; }
    const id = amax > 0 ? f(1 / amax) : 0;
    dd[i] = amax;
    for (let j = 0; j < 64; j++) {
      const v = f(x[i * 64 + j]! * id);
      const r = Number.isNaN(v) ? NaN : Math.sign(v) * Math.floor(Math.abs(v) + 0.5); // roundf: halves away from zero
      // (int) of NaN/inf/out of range is INT_MIN on x86
      let q = (Number.isFinite(r) && Math.abs(r) < 2 ** 31 ? r : -(2 ** 31)) + 1;
      if (q < 0) q = 0;
      if (q > 3) q = 3;
      qs[i * 16 + (j >> 2)]! |= q << ((j & 3) * 2);
    }
  }
  return { qs, d: dd };
}

function q1_0C(x: Float32Array): { qs: Uint8Array; d: Float32Array } {
  const nb = x.length / 128;
  const qs = new Uint8Array(nb * 16), dd = new Float32Array(nb);
  for (let i = 0; i < nb; i++) {
    let sum = 0;
    for (let j = 0; j < 128; j++) sum = f(sum + Math.abs(x[i * 128 + j]!));
    dd[i] = f(sum / 128);
    for (let j = 0; j < 128; j++) if (x[i * 128 + j]! >= 0) qs[i * 16 + (j >> 3)]! |= 1 << (j & 7);
  }
  return { qs, d: dd };
}

function edgeInput(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const x = new Float32Array(n);
  const scales = [1e-40, 3e-39, 1e-30, 2 ** -12, 2 ** -9, 1e-3, 0.02, 1, 448 * 6, 3000, 1e6, 1e30];
  let sc = 1;
  for (let b = 0; b < n; b += 16) {
    // a new scale per 16 values, or kept for a whole 64/128 block
    if (b % 128 === 0 || r() < 0.3) sc = scales[Math.floor(r() * scales.length)]!;
    const mode = Math.floor(r() * 4);
    for (let j = 0; j < 16; j++) {
      let v: number;
      if (mode === 0) v = (r() - 0.5) * 2 * sc; // plain
      else if (mode === 1) v = ((Math.floor(r() * 25) - 12) / 2) * sc / 6; // E2M1 values and mid-points of a scale
      else if (mode === 2) v = (Math.floor(r() * 5) - 2) * 0.5 * sc; // Q2_0 halves: ties of roundf
      else v = r() < 0.3 ? (r() < 0.5 ? -0 : 0) : (r() - 0.5) * sc;
      x[b + j] = v;
    }
  }
  return x;
}

test("NVFP4, Q1_0, Q2_0 edge cases equal a scalar port of ggml's C", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const x = edgeInput(4 * 512, seed);
    const nv = quantize("NVFP4", x, 4, 512);
    assert.ok(Buffer.from(nv).equals(Buffer.from(nvfp4C(x))), `NVFP4 seed ${seed}`);
    for (const [type, ref, bs, bb] of [["Q2_0", q2_0C, 64, 18], ["Q1_0", q1_0C, 128, 18]] as const) {
      const q = quantize(type, x, 4, 512);
      const want = ref(x);
      const d16 = quantize("F16", want.d, 1, want.d.length);
      for (let b = 0; b < x.length / bs; b++) {
        assert.deepEqual([...q.subarray(b * bb, b * bb + 2)], [...d16.subarray(2 * b, 2 * b + 2)], `${type} seed ${seed} block ${b} d`);
        assert.deepEqual([...q.subarray(b * bb + 2, (b + 1) * bb)], [...want.qs.subarray(b * 16, (b + 1) * 16)], `${type} seed ${seed} block ${b} qs`);
      }
    }
  }
});

test("the imatrix does not change NVFP4, Q1_0, Q2_0 (as in ggml)", () => {
  const x = edgeInput(2 * 512, 7);
  const w = new Float32Array(512).map((_, i) => (i % 97) + 0.5);
  for (const type of ["NVFP4", "Q1_0", "Q2_0"]) {
    assert.ok(Buffer.from(quantize(type, x, 2, 512, w)).equals(Buffer.from(quantize(type, x, 2, 512))), type);
  }
});
