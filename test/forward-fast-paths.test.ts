// The forward pass's shortcuts (docs/measure.md "Speed") must not change a single bit: each is
// checked here against the plain path it replaces, computed independently (JS references, the
// step-by-step kernels, the whole-chunk computation), on shapes with odd tails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { halfToFloat } from "../src/ggml/float-convert.js";
import { registerWeightType } from "../src/model/forward/act-numerics.js";
import {
  attentionWasm, decodeF16Into, ffnWasm, kernelArena, matmulWasm, sumSquaresWasm,
} from "../src/model/forward/matmul-wasm.js";
import { rmsNorm, swiglu } from "../src/model/forward/ops.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { embed, runLayer } from "../src/model/forward/run.js";
import { openSource } from "../src/io/source.js";

const FIX = fileURLToPath(new URL("../../shared/fixtures/", import.meta.url));
const fma = !process.env.QUANTSCOPE_NO_FMA;

function random(n: number, seed: number, scale = 3.7): Float32Array {
  let s = seed;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = ((s / 2 ** 32) - 0.5) * scale; }
  return x;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = bits(got), w = bits(want);
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) assert.fail(`${what}: value ${i}: ${got[i]} vs ${want[i]}`);
}

/** F16 bytes of x (round to nearest even via the codec-independent JS conversion of ops' helper). */
function toHalfBytes(x: Float32Array): { bytes: Uint8Array; values: Float32Array } {
  const h = new Uint16Array(x.length), values = new Float32Array(x.length);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let i = 0; i < x.length; i++) {
    // truncate to a half by its bit pattern (any half will do: the test needs F16 data, not rounding)
    f[0] = x[i]!;
    const w = u[0]!, sign = (w >>> 16) & 0x8000, e = ((w >>> 23) & 0xff) - 127 + 15;
    h[i] = e <= 0 ? sign : e >= 31 ? sign | 0x7bff : sign | (e << 10) | ((w >>> 13) & 0x3ff);
    values[i] = halfToFloat(h[i]!);
  }
  return { bytes: new Uint8Array(h.buffer), values };
}

test("F16 decode in kernel memory: all 65,536 halves give halfToFloat's value (NaN stays NaN)", { skip: !fma && "no FMA module" }, () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const [slot] = kernelArena([65536], [false], 1 << 20)!;
  decodeF16Into(new Uint8Array(all.buffer), 65536, slot!.w, 0);
  for (let h = 0; h < 65536; h++) {
    const want = halfToFloat(h), got = slot!.w[h]!;
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `half ${h.toString(16)}`);
    else assert.ok(Object.is(got, want), `half ${h.toString(16)}: ${got} vs ${want}`);
  }
});

test("matmul on F16 weights kept as F16 (decoded block by block) = matmul on their f32 values, bit for bit", { skip: !fma && "no FMA module" }, () => {
  for (const [T, n, m] of [[7, 172, 65], [13, 1030, 300], [4, 64, 2]] as const) {
    const x = random(T * n, T + n);
    const { bytes, values } = toHalfBytes(random(m * n, m, 0.2));
    const [slot] = kernelArena([m * n], [true], 1 << 22)!;
    slot!.raw!.set(bytes);
    sameBits(matmulWasm(x, T, n, slot!.w, m), matmulWasm(x, T, n, values, m), `T ${T} n ${n} m ${m}`);
    // f32 weights read in place from the arena: the same again
    const [f32] = kernelArena([m * n], [false], 1 << 22)!;
    f32!.w.set(values);
    sameBits(matmulWasm(x, T, n, f32!.w, m), matmulWasm(x, T, n, values, m), `in place, T ${T} n ${n} m ${m}`);
  }
});

test("attention for the queries of positions q0.. only = those rows of the whole chunk's attention", () => {
  for (const [T, nHead, nKv, d, q0] of [[45, 16, 4, 64, 22], [19, 4, 2, 38, 9], [33, 8, 2, 64, 32]] as const) {
    const q = random(T * nHead * d, 1), k = random(T * nKv * d, 2), v = random(T * nKv * d, 3);
    const whole = attentionWasm(q, k, v, T, nHead, nKv, d, true);
    const tail = attentionWasm(q.subarray(q0 * nHead * d), k, v, T, nHead, nKv, d, true, undefined, q0);
    sameBits(tail, whole.subarray(q0 * nHead * d), `T ${T} heads ${nHead}/${nKv}×${d} from ${q0}`);
  }
});

test("the fused FFN (kernel memory throughout) = matmul, SwiGLU, matmul step by step; its capture sees the SwiGLU output", { skip: !fma && "no FMA module" }, () => {
  const T = 9, n = 68, F = 200;
  const f = random(T * n, 11);
  for (const type of ["F32", "F16"]) {
    const Wg = random(F * n, 12, 0.3), Wu = random(F * n, 13, 0.3), Wd = random(n * F, 14, 0.3);
    for (const w of [Wg, Wu, Wd]) registerWeightType(w, type);
    let seen: Float32Array | undefined;
    const fused = ffnWasm(f, T, n, Wg, Wu, F, Wd, new Float32Array(T * n), (a) => { seen = a.slice(); })!;
    const a = swiglu(matmulWasm(f, T, n, Wg, F), matmulWasm(f, T, n, Wu, F));
    sameBits(fused, matmulWasm(a, T, F, Wd, n), `${type} output`);
    sameBits(seen!, a, `${type} capture`);
  }
  const q8 = random(F * n, 15);
  registerWeightType(q8, "Q4_K");
  assert.equal(ffnWasm(f, T, n, q8, q8, F, q8, new Float32Array(T * n)), null, "Q8 activation rounding: left to the step-by-step path");
});

test("column sums of squares in WASM = the f32 JS loop, bit for bit", { skip: !fma && "no FMA module" }, () => {
  for (const [T, cols] of [[37, 1024], [5, 70]] as const) {
    const x = random(T * cols, cols, 40);
    const want = new Float32Array(cols);
    for (let t = 0; t < T; t++) for (let j = 0; j < cols; j++) want[j] = want[j]! + Math.fround(x[t * cols + j]! * x[t * cols + j]!);
    sameBits(sumSquaresWasm(x, T, cols)!, want, `${T}×${cols}`);
  }
});

test("RMSNorm four rows at a time = one row at a time (float64 sums), in place too", () => {
  const n = 96, x = random(11 * n, 21), g = random(n, 22);
  const want = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += n) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[o + j]! * x[o + j]!;
    const scale = 1 / Math.sqrt(ss / n + 1e-6);
    for (let j = 0; j < n; j++) want[o + j] = x[o + j]! * scale * g[j]!;
  }
  sameBits(rmsNorm(x, n, g, 1e-6), want, "rows");
  const y = x.slice();
  sameBits(rmsNorm(y, n, g, 1e-6, y), want, "in place");
});

test("last layer with keepFrom: the kept rows equal the whole layer's, bit for bit (tinyqwen, two chunks)", () => {
  const src = openSource(FIX + "models/tinyqwen-f16.gguf");
  const m = loadForwardModel(src);
  src.close();
  const chunk = 24, T = 2 * chunk, from = 11;
  const tokens = Int32Array.from({ length: T }, (_, i) => (i * 37 + 5) % m.config.vocab);
  const h = embed(m, tokens);
  const l = m.config.nLayer - 1;
  const whole = h.slice(), kept = h.slice();
  runLayer(m, whole, T, chunk, l);
  runLayer(m, kept, T, chunk, l, { keepFrom: from });
  const E = m.config.nEmbd;
  for (let c = 0; c < 2; c++) {
    const rows = (a: Float32Array) => a.subarray((c * chunk + from) * E, (c + 1) * chunk * E);
    sameBits(rows(kept), rows(whole), `chunk ${c}`);
  }
  assert.throws(() => runLayer(m, kept, T, chunk, l, { keepFrom: from, capture: () => {} }), /keepFrom/);
});
