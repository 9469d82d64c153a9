// llama.cpp's activation rounding before CPU matmuls (act-numerics.ts), against independent
// computations: Q8_0 through quantscope's bit-exact Q8_0 codec (quantize_row_q8_0_ref; it differs
// from the x86 path only on exact .5 ties, which random data does not hit), F16 through the F16
// codec, Q8_K by hand on a block whose scale is exact.
import { test } from "node:test";
import assert from "node:assert/strict";
import { roundActivations, vecDotType } from "../src/model/forward/act-numerics.js";
import { dequantize, quantize } from "../src/quant/index.js";

function random(n: number, seed: number): Float32Array {
  let s = seed;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = ((s / 2 ** 32) - 0.5) * 3.7; }
  return x;
}

test("Q8_0 / F16 activation rounding equals the codecs' round trip", () => {
  const x = random(4 * 512, 7);
  assert.deepEqual(roundActivations(x, 4, 512, "Q8_0"), dequantize("Q8_0", quantize("Q8_0", x, 4, 512), 4, 512));
  assert.deepEqual(roundActivations(x, 4, 512, "F16"), dequantize("F16", quantize("F16", x, 4, 512), 4, 512));
});

test("Q8_K: scale from the signed max, -127/max, half-to-even, clamp at 127", () => {
  const x = new Float32Array(256);
  x[0] = -127; // max |x| with a negative sign: iscale = 1, d = 1
  x[1] = 2.5; x[2] = 3.5; x[3] = -0.5; x[4] = 100.25;
  const y = roundActivations(x, 1, 256, "Q8_K");
  // iscale = -127/-127 = 1; q = nearest_int(x) (ties to even); y = q / iscale
  assert.deepEqual(Array.from(y.slice(0, 5)), [-127, 2, 4, 0, 100]);
  const z = roundActivations(new Float32Array(256), 1, 256, "Q8_K");
  assert.ok(z.every((v) => v === 0));
});

test("vec_dot types follow ggml-cpu's table", () => {
  assert.equal(vecDotType("F16"), "F16");
  assert.equal(vecDotType("Q4_K"), "Q8_K");
  assert.equal(vecDotType("IQ4_NL"), "Q8_0");
  assert.equal(vecDotType("IQ4_XS"), "Q8_K");
  assert.equal(vecDotType("Q5_1"), "Q8_1");
  assert.equal(vecDotType("F32"), "F32");
});

test("WASM matmul and attention kernels equal the plain JS references (f64 sums) to f32 rounding", async () => {
  const { matmulWasm, attentionWasm } = await import("../src/model/forward/matmul-wasm.js");
  const { matmulReference, causalAttention } = await import("../src/model/forward/ops.js");
  const close = (a: Float32Array, b: Float32Array, tol: number) => {
    let worst = 0, scale = 0;
    for (let i = 0; i < a.length; i++) { worst = Math.max(worst, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
    assert.ok(worst <= tol * scale, `max |diff| ${worst} vs max |ref| ${scale}`);
  };
  for (const [T, n, m] of [[7, 172, 64], [33, 256, 129]] as const) {
    const x = random(T * n, T), W = random(m * n, n);
    close(matmulWasm(x, T, n, W, m), matmulReference(x, T, n, W, m), 1e-5);
  }
  const T = 19, nHead = 4, nKv = 2, d = 64;
  const q = random(T * nHead * d, 1), k = random(T * nKv * d, 2), v = random(T * nKv * d, 3);
  close(attentionWasm(q, k, v, T, nHead, nKv, d, false), causalAttention(q, k, v, T, nHead, nKv, d), 1e-5);
  // peaked softmax (scores spread over ~±400: most e^(s - max) underflow to 0) and a head size with a scalar tail
  const T2 = 45, d2 = 38;
  const q2 = random(T2 * nHead * d2, 4).map((x) => x * 60), k2 = random(T2 * nKv * d2, 5), v2 = random(T2 * nKv * d2, 6);
  close(attentionWasm(q2, k2, v2, T2, nHead, nKv, d2, false), causalAttention(q2, k2, v2, T2, nHead, nKv, d2), 1e-5);
});

test("WASM SwiGLU (polynomial e^x) equals the plain JS silu(g)·u to f32 rounding, including |g| past e^x's range", async () => {
  const { swigluWasm } = await import("../src/model/forward/matmul-wasm.js");
  const { swigluReference } = await import("../src/model/forward/ops.js");
  const n = 4099;
  const g = random(n, 7).map((x, i) => x * (i % 3 === 0 ? 200 : 8)), u = random(n, 8);
  g[0] = 0; g[1] = -0; g[2] = 88.8; g[3] = -88.8; g[4] = 1e-30;
  const got = swigluWasm(g, u);
  if (!got) return assert.ok(process.env.QUANTSCOPE_NO_FMA, "the relaxed-SIMD module should load on this Node");
  const ref = swigluReference(g, u);
  for (let i = 0; i < n; i++) {
    const tol = 3e-7 * Math.abs(ref[i]!) + 1e-35; // below ~1e-36 f32 e^-g overflows (silu → -0, as in f32 C)
    assert.ok(Math.abs(got[i]! - ref[i]!) <= tol, `g ${g[i]} u ${u[i]}: ${got[i]} vs ${ref[i]}`);
  }
});
