// Q2_K..Q6_K beyond the golden vectors:
// * the fast SIMD kernels (one sub-block per lane) against the scalar
//   statement-for-statement ports of ggml-quants.c (kquantQuantizeRef /
//   kquantDequantizeRef, themselves checked by the golden tests) on random
//   shapes and awkward value distributions, with and without an imatrix;
// * round-trip error bounds from the formats' bit budgets;
// * row chunking, NaN policy and shape errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dequantize, quantize, quantizedSize } from "../src/quant/index.js";
import { Arena, kernels } from "../src/quant/wasm.js";
import { goldenCases, readGoldenBytes, readGoldenF32 } from "./golden.js";

const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"] as const;
const TYPE_NUM: Record<string, number> = { Q2_K: 2, Q3_K: 3, Q4_K: 4, Q5_K: 5, Q6_K: 6 };

type RefQuant = (type: number, src: number, dst: number, rows: number, cols: number, im: number) => void;
type RefDequant = (type: number, src: number, dst: number, nblocks: number) => void;

/** The scalar reference port (assembly/kquants_ref.ts). */
function refQuantize(type: string, x: Float32Array, rows: number, cols: number, im?: Float32Array): Uint8Array {
  const k = kernels();
  const a = new Arena(k);
  const size = quantizedSize(type, rows, cols);
  const pIm = im ? a.alloc(im.length * 4) : 0;
  const pX = a.alloc(x.length * 4);
  const pY = a.alloc(size);
  if (im) a.f32(pIm, im.length).set(im);
  a.f32(pX, x.length).set(x);
  (k.kquantQuantizeRef as RefQuant)(TYPE_NUM[type]!, pX, pY, rows, cols, pIm);
  return a.u8(pY, size).slice();
}

function refDequantize(type: string, q: Uint8Array, n: number): Float32Array {
  const k = kernels();
  const a = new Arena(k);
  const pQ = a.alloc(q.length);
  const pY = a.alloc(n * 4);
  a.u8(pQ, q.length).set(q);
  (k.kquantDequantizeRef as RefDequant)(TYPE_NUM[type]!, pQ, pY, n / 256);
  return a.f32(pY, n).slice();
}

function firstByteDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function firstBitDiff(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/** Deterministic PRNG for the bulk data (fast-check picks seeds and shapes). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
}

/**
 * Values that stress the searches: per 16-value piece, one of gaussian,
 * heavy tails, all positive, all negative, constant, exact zeros, sparse,
 * a single spike, small integers (ties), with a scale from 1e-9 to 1e4.
 */
function awkward(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const x = new Float32Array(n);
  for (let p = 0; p < n; p += 16) {
    const kind = Math.floor(r() * 10);
    const scale = 10 ** (-9 + r() * 13);
    const c = gauss(r) * scale;
    for (let i = p; i < p + 16; i++) {
      const g = gauss(r) * scale;
      switch (kind) {
        case 0: x[i] = g; break;
        case 1: x[i] = g / Math.max(0.05, Math.abs(gauss(r))); break;
        case 2: x[i] = Math.abs(g) + scale * 0.1; break;
        case 3: x[i] = -Math.abs(g) - scale; break;
        case 4: x[i] = c; break;
        case 5: x[i] = 0; break;
        case 6: x[i] = r() < 0.8 ? 0 : g; break;
        case 7: x[i] = i === p + 5 ? c * 50 : g * 1e-3; break;
        case 8: x[i] = (Math.floor(r() * 9) - 4) * 0.5 * scale; break;
        default: x[i] = g + 3 * scale; break;
      }
    }
  }
  return x;
}

/** Positive per-column importances with outliers and exact zeros (like imatrix_synthetic_with_zeros). */
function imatrixFor(cols: number, seed: number): Float32Array {
  const r = mulberry32(seed ^ 0x5bd1e995);
  const w = new Float32Array(cols);
  for (let i = 0; i < cols; i++) {
    const u = r();
    w[i] = u < 0.1 ? 0 : Math.exp(2 * gauss(r)) * (u > 0.98 ? 100 : 1);
  }
  return w;
}

for (const type of TYPES) {
  test(`${type}: the scalar reference port itself reproduces all golden cases (the oracle below is sound)`, () => {
    for (const c of goldenCases(type)) {
      const x = readGoldenF32(c.input);
      const im = c.imatrix ? readGoldenF32(c.imatrix) : undefined;
      const want = readGoldenBytes(c.quantized);
      assert.equal(firstByteDiff(refQuantize(type, x, c.rows, c.cols, im), want), -1, `${c.name}: quantize`);
      assert.equal(firstBitDiff(refDequantize(type, want, c.rows * c.cols), readGoldenF32(c.dequantized)), -1, `${c.name}: dequantize`);
    }
  });
}

for (const type of TYPES) {
  test(`${type}: SIMD kernels equal the scalar reference port on random awkward data (fast-check)`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }), // rows
        fc.integer({ min: 1, max: 3 }), // super-blocks per row
        fc.boolean(), // imatrix
        fc.integer({ min: 0, max: 0x7fffffff }),
        (rows, nb, useIm, seed) => {
          const cols = 256 * nb;
          const x = awkward(rows * cols, seed);
          const im = useIm ? imatrixFor(cols, seed) : undefined;
          const got = quantize(type, x, rows, cols, im);
          const want = refQuantize(type, x, rows, cols, im);
          assert.equal(firstByteDiff(got, want), -1, `quantized bytes differ (seed ${seed}, imatrix ${useIm})`);
          const y = dequantize(type, got, rows, cols);
          assert.equal(firstBitDiff(y, refDequantize(type, got, rows * cols)), -1, `dequantized floats differ (seed ${seed})`);
        },
      ),
      { numRuns: 60, seed: 20251126 },
    );
  });

  test(`${type}: extreme magnitudes (subnormal inputs, x^2 overflowing float32) still equal the reference`, () => {
    const r = mulberry32(TYPE_NUM[type]! * 104729);
    for (const e of [-44, -40, -38, -30, 18, 19, 20, 25, 30, 36]) {
      for (const useIm of [false, true]) {
        const rows = 2, cols = 512;
        const x = new Float32Array(rows * cols);
        for (let i = 0; i < x.length; i++) x[i] = (r() - 0.3) * 10 ** (e + r() * 2);
        const im = useIm ? Float32Array.from({ length: cols }, () => r() * 10 ** (e > 0 ? 30 : 1)) : undefined;
        const got = quantize(type, x, rows, cols, im);
        assert.equal(firstByteDiff(got, refQuantize(type, x, rows, cols, im)), -1, `1e${e}, imatrix ${useIm}`);
      }
    }
  });

  test(`${type}: dequantizer equals the reference on arbitrary block bytes`, () => {
    // Random bytes exercise every scale/level combination, incl. fp16 inf/NaN scales.
    const r = mulberry32(TYPE_NUM[type]! * 7919);
    const info = quantizedSize(type, 1, 256);
    const nblocks = 64;
    const q = new Uint8Array(info * nblocks);
    for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 256);
    const y = dequantize(type, q, nblocks, 256);
    const want = refDequantize(type, q, nblocks * 256);
    for (let i = 0; i < y.length; i++) {
      const same = Object.is(y[i], want[i]) || (Number.isNaN(y[i]) && Number.isNaN(want[i]));
      assert.ok(same, `float ${i}: ${y[i]} vs ${want[i]}`);
    }
  });

  test(`${type}: a tall matrix spanning several row chunks equals the reference, rows quantized alone too`, () => {
    const rows = 9, cols = 9728; // 87,552 floats: more than one 65,536-float chunk
    const x = awkward(rows * cols, 42 + TYPE_NUM[type]!);
    const im = imatrixFor(cols, 7);
    for (const w of [undefined, im]) {
      const all = quantize(type, x, rows, cols, w);
      assert.equal(firstByteDiff(all, refQuantize(type, x, rows, cols, w)), -1);
      const rb = quantizedSize(type, 1, cols);
      const r5 = quantize(type, x.subarray(5 * cols, 6 * cols), 1, cols, w);
      assert.equal(firstByteDiff(r5, all.subarray(5 * rb, 6 * rb)), -1, "row 5 alone");
    }
  });
}

// Round-trip RMS error on N(0,1) data, relative to sigma, must stay below a
// bound derived from the bit budget: a uniform quantizer with step
// (block range)/(levels-1) has RMS error step/sqrt(12); with the block range
// of 16/32 gaussian values (about 4.2 sigma for 16, 4.6 for 32) that gives
// Q2_K 0.35, Q3_K 0.17, Q4_K 0.088, Q5_K 0.043, Q6_K 0.019. The searches do
// better than plain min/max rounding, so 1.25x those must always hold.
const RMS_BOUND: Record<string, number> = {
  Q2_K: 1.25 * (4.2 / 3) / Math.sqrt(12),
  Q3_K: 1.25 * (4.2 / 7) / Math.sqrt(12),
  Q4_K: 1.25 * (4.6 / 15) / Math.sqrt(12),
  Q5_K: 1.25 * (4.6 / 31) / Math.sqrt(12),
  Q6_K: 1.25 * (4.2 / 63) / Math.sqrt(12),
};

for (const type of TYPES) {
  test(`${type}: round-trip RMS error on gaussian data is within the bit budget`, () => {
    const r = mulberry32(99);
    const rows = 4, cols = 1024;
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = gauss(r);
    for (const w of [undefined, imatrixFor(cols, 3).map((v) => v + 0.01)]) {
      const y = dequantize(type, quantize(type, x, rows, cols, w), rows, cols);
      let se = 0;
      for (let i = 0; i < x.length; i++) se += (x[i]! - y[i]!) ** 2;
      const rms = Math.sqrt(se / x.length);
      assert.ok(rms < RMS_BOUND[type]!, `${type}: rms ${rms.toFixed(4)} >= bound ${RMS_BOUND[type]!.toFixed(4)}`);
      assert.ok(rms > 0, "quantization of gaussian data cannot be lossless");
    }
  });

  test(`${type}: NaN or Inf input is refused with its row and column`, () => {
    const x = new Float32Array(2 * 256).fill(0.5);
    x[256 + 17] = NaN;
    assert.throws(() => quantize(type, x, 2, 256), /NaN at row 1, column 17/);
    x[256 + 17] = -Infinity;
    assert.throws(() => quantize(type, x, 2, 256, new Float32Array(256).fill(1)), /-Inf at row 1, column 17/);
  });

  test(`${type}: an imatrix of the wrong length is refused`, () => {
    assert.throws(() => quantize(type, new Float32Array(512), 1, 512, new Float32Array(256)), /imatrix has 256 values/);
  });
}
