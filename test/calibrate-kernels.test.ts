// calibrate's WASM kernels (assembly/calib_relaxed.ts via src/model/calibrate/kernels.ts) against
// independent float64 JS computations written here, and the SwiGLU forward against the forward
// pass's own kernel bit for bit (so calibrate's in_sum2 of ffn_down is imatrix's).
import { test } from "node:test";
import assert from "node:assert/strict";
import { addSquaresWasm, addWasm, arenaArray, beginChunk, calibKernels, fisherMarginalsWasm, matmulBackWasm, rmsNormBackWasm, rmsNormWasm, ropeBackWasm, ropeFwdWasm, swigluBackWasm, swigluKeepWasm } from "../src/model/calibrate/kernels.js";
import { rmsNorm, rope, swiglu } from "../src/model/forward/ops.js";
import { rng } from "../src/model/calibrate/collect.js";

const r = rng(5);
const rnd = (n: number, s = 2) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
const close = (a: number, b: number, rel: number, what: string) => assert.ok(Math.abs(a - b) <= rel * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);

// With QUANTSCOPE_NO_FMA=1 the kernels are off by request (the wrappers return false and the callers
// run JS, covered by test/calibrate.test.ts): the tests below are then skipped, saying so.
const off = process.env.QUANTSCOPE_NO_FMA ? "QUANTSCOPE_NO_FMA=1: calibrate's relaxed-SIMD kernels are off" : false;

test("calibrate kernels: the relaxed-SIMD module is available here (else every test below would test the JS fallbacks)", () => {
  assert.ok(calibKernels() || off, "build/forward-relaxed.wasm without the calibrate kernels, or no relaxed SIMD");
});

test("calibrate kernels: SwiGLU keep gives the forward pass's exact bits and sigmoid(gate); its backward matches float64", { skip: off }, () => {
  for (const n of [1, 7, 4096 + 3]) {
    const g = rnd(n, 8), u = rnd(n), a = new Float32Array(n), sg = new Float32Array(n);
    assert.ok(swigluKeepWasm(g, u, a, sg));
    const want = swiglu(g, u);
    for (let i = 0; i < n; i++) {
      assert.equal(a[i], want[i], `a[${i}] (gate ${g[i]})`);
      close(sg[i]!, 1 / (1 + Math.exp(-g[i]!)), 2e-6, `sg[${i}]`);
    }
    const da = rnd(n), dgt = new Float32Array(n), dup = new Float32Array(n);
    assert.ok(swigluBackWasm(da, g, u, sg, dgt, dup));
    for (let i = 0; i < n; i++) {
      const z = g[i]!, s = 1 / (1 + Math.exp(-z));
      close(dup[i]!, da[i]! * z * s, 1e-5, `dup[${i}]`);
      close(dgt[i]!, da[i]! * u[i]! * s * (1 + z * (1 - s)), 1e-5, `dgt[${i}]`);
    }
  }
});

test("calibrate kernels: RMSNorm backward (with and without weight and residual) matches float64", { skip: off }, () => {
  for (const [rows, n] of [[5, 64], [3, 4], [17, 256]] as const) {
    const x = rnd(rows * n), dy = rnd(rows * n), g = rnd(n), res = rnd(rows * n), eps = 1e-6;
    for (const [gw, rr] of [[null, undefined], [g, undefined], [g, res], [null, res]] as const) {
      const out = new Float32Array(rows * n);
      assert.ok(rmsNormBackWasm(x, n, gw, eps, dy, out, rr));
      for (let o = 0; o < rows * n; o += n) {
        let ss = 0, dot = 0;
        for (let j = 0; j < n; j++) { ss += x[o + j]! ** 2; dot += x[o + j]! * dy[o + j]! * (gw ? gw[j]! : 1); }
        const s = 1 / Math.sqrt(ss / n + eps);
        for (let j = 0; j < n; j++) {
          const want = s * dy[o + j]! * (gw ? gw[j]! : 1) - (x[o + j]! * s ** 3 * dot) / n + (rr ? rr[o + j]! : 0);
          close(out[o + j]!, want, 2e-5, `rows ${rows} n ${n} [${o + j}]`);
        }
      }
    }
  }
});

test("calibrate kernels: in_sum2's column sums of squares equal the float64 JS loop exactly", { skip: off }, () => {
  for (const [T, n] of [[9, 13], [64, 256], [1, 3]] as const) {
    const x = rnd(T * n, 3), acc = Float64Array.from({ length: n + 5 }, () => r()), want = acc.slice();
    for (const scale of [1, 0.5]) {
      assert.ok(addSquaresWasm(acc, x, T, n, scale, 5));
      for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) want[5 + j] += scale * x[t * n + j]! * x[t * n + j]!;
      assert.deepEqual(acc, want);
    }
  }
});

test("calibrate kernels: RoPE backward is the transpose of the forward rotation (normal and neox)", { skip: off }, () => {
  for (const mode of ["normal", "neox"] as const) {
    const T = 11, nHead = 3, headDim = 16, ropeDim = 12, theta = 10000;
    const half = ropeDim / 2;
    const cos = new Float64Array(T * half), sin = new Float64Array(T * half);
    for (let t = 0; t < T; t++) for (let i = 0; i < half; i++) { const a = t * Math.pow(theta, (-2 * i) / ropeDim); cos[t * half + i] = Math.cos(a); sin[t * half + i] = Math.sin(a); }
    const x = rnd(T * nHead * headDim), y = x.slice();
    assert.ok(ropeBackWasm(y, T, nHead, headDim, ropeDim, cos, sin, mode === "neox"));
    // ⟨rope(e), y⟩ = ⟨e, ropeBack(y)⟩ for random e: the backward pass is the forward rotation's transpose
    const e = rnd(T * nHead * headDim), re = e.slice();
    rope(re, T, nHead, headDim, ropeDim, theta, mode);
    let lhs = 0, rhs = 0;
    for (let i = 0; i < x.length; i++) { lhs += re[i]! * x[i]!; rhs += e[i]! * y[i]!; }
    close(rhs, lhs, 1e-5, `${mode} adjoint`);
    // and undoes it
    rope(y, T, nHead, headDim, ropeDim, theta, mode);
    for (let i = 0; i < x.length; i++) close(y[i]!, x[i]!, 1e-5, `${mode} round trip [${i}]`);
  }
});

test("calibrate kernels: ∂L/∂x = dy·W from W as stored matches float64 (token and column counts off the 4 × 8 tiles)", { skip: off }, () => {
  for (const [T, rows, cols] of [[9, 20, 13], [4, 8, 8], [1, 3, 17], [33, 64, 40]] as const) {
    const dy = rnd(T * rows), W = rnd(rows * cols), dx = new Float32Array(T * cols);
    assert.ok(matmulBackWasm(dy, T, W, rows, cols, dx));
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < cols; j++) {
        let want = 0;
        for (let o = 0; o < rows; o++) want += dy[t * rows + o]! * W[o * cols + j]!;
        close(dx[t * cols + j]!, want, 1e-5, `${T}x${rows}x${cols} [${t}, ${j}]`);
      }
    }
  }
});

test("calibrate kernels: ∂L/∂x accumulated into dx (dx += dy·W) is the product added to dx in f32, and matches float64", { skip: off }, () => {
  for (const [T, rows, cols] of [[9, 20, 13], [6, 8, 16], [1, 3, 17]] as const) {
    const dy = rnd(T * rows), W = rnd(rows * cols), dx0 = rnd(T * cols), prod = new Float32Array(T * cols);
    assert.ok(matmulBackWasm(dy, T, W, rows, cols, prod));
    const acc = dx0.slice();
    assert.ok(matmulBackWasm(dy, T, W, rows, cols, acc, true));
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < cols; j++) {
        const i = t * cols + j;
        assert.equal(acc[i], Math.fround(dx0[i]! + prod[i]!), `${T}x${rows}x${cols} [${t}, ${j}]`);
        let want = dx0[i]!;
        for (let o = 0; o < rows; o++) want += dy[t * rows + o]! * W[o * cols + j]!;
        close(acc[i]!, want, 1e-5, `${T}x${rows}x${cols} [${t}, ${j}] float64`);
      }
    }
  }
});

test("calibrate kernels: the RMSNorm forward gives ops.rmsNorm's bits (with and without weight, rows and widths off the 4-blocks, in place)", { skip: off }, () => {
  for (const [rows, n] of [[7, 64], [4, 6], [1, 5], [13, 256], [9, 3]] as const) {
    const x = rnd(rows * n, 5), g = rnd(n), eps = 1e-6;
    for (const gw of [g, null]) {
      const want = rmsNorm(x, n, gw, eps), got = new Float32Array(rows * n);
      assert.ok(rmsNormWasm(x, n, gw, eps, got));
      for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`rows ${rows} n ${n} [${i}]: ${got[i]} vs ${want[i]}`);
      const same = x.slice();
      assert.ok(rmsNormWasm(same, n, gw, eps, same));
      assert.deepEqual(same, want, `rows ${rows} n ${n} in place`);
    }
  }
});

test("calibrate kernels: elementwise add gives the JS loop's f32 sums", { skip: off }, () => {
  for (const n of [1, 6, 1027]) {
    const a = rnd(n, 1e3), b = rnd(n, 1e-3), out = new Float32Array(n);
    assert.ok(addWasm(out, a, b));
    for (let i = 0; i < n; i++) assert.equal(out[i], Math.fround(a[i]! + b[i]!), `[${i}]`);
  }
});

test("calibrate kernels: out_grad2 and in_sum2 summed in the Fisher kernel's packing pass equal the float64 JS loop exactly (rows and columns off the panels)", { skip: off }, () => {
  for (const [T, rows, cols] of [[9, 13, 21], [16, 8, 16], [1, 3, 5], [37, 64, 40]] as const) {
    const g = rnd(T * rows), x = rnd(T * cols, 3);
    const R = new Float64Array(rows), C = new Float64Array(cols);
    const g2 = Float64Array.from({ length: rows }, () => r()), x2 = Float64Array.from({ length: cols }, () => r());
    const wantG = g2.slice(), wantX = x2.slice();
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < rows; o++) wantG[o] += 0.25 * g[t * rows + o]! * g[t * rows + o]!;
      for (let j = 0; j < cols; j++) wantX[j] += x[t * cols + j]! * x[t * cols + j]!;
    }
    assert.ok(fisherMarginalsWasm(g, x, T, rows, cols, R, C, 0.25, g2, 0.25, x2));
    assert.deepEqual(g2, wantG, `${T}x${rows}x${cols} out_grad2`);
    assert.deepEqual(x2, wantX, `${T}x${rows}x${cols} in_sum2`);
  }
});

test("calibrate kernels: the forward RoPE rotation gives ops.rope's bits (normal and neox, partial rotary dims)", { skip: off }, () => {
  for (const mode of ["normal", "neox"] as const) {
    for (const [T, nHead, headDim, ropeDim, theta] of [[11, 3, 16, 12, 10000], [40, 2, 64, 64, 1e6]] as const) {
      const half = ropeDim / 2;
      const cos = new Float64Array(T * half), sin = new Float64Array(T * half);
      for (let i = 0; i < half; i++) { const inv = Math.pow(theta, (-2 * i) / ropeDim); for (let t = 0; t < T; t++) { cos[t * half + i] = Math.cos(t * inv); sin[t * half + i] = Math.sin(t * inv); } }
      const x = rnd(T * nHead * headDim, 4), want = x.slice();
      rope(want, T, nHead, headDim, ropeDim, theta, mode);
      assert.ok(ropeFwdWasm(x, T, nHead, headDim, ropeDim, cos, sin, mode === "neox"));
      for (let i = 0; i < x.length; i++) if (!Object.is(x[i], want[i])) assert.fail(`${mode} T ${T} [${i}]: ${x[i]} vs ${want[i]}`);
    }
  }
});

test("calibrate kernels: the Fisher marginals of matrices sharing their input (x packed once, in the arena) match float64 for each", { skip: off }, () => {
  const T = 21, cols = 20;
  beginChunk(1 << 20, 1 << 22);
  const x = arenaArray("test.fisher.x", T * cols);
  x.set(rnd(T * cols));
  for (const [rows, same] of [[12, false], [9, true], [16, true]] as const) {
    const g = rnd(T * rows), R = new Float64Array(rows), C = new Float64Array(cols);
    assert.ok(fisherMarginalsWasm(g, x, T, rows, cols, R, C, 1, undefined, 1, undefined, same));
    for (let o = 0; o < rows; o++) {
      let want = 0;
      for (let j = 0; j < cols; j++) { let d = 0; for (let t = 0; t < T; t++) d += g[t * rows + o]! * x[t * cols + j]!; want += d * d; }
      close(R[o]!, want, 1e-5, `rows ${rows} (input shared: ${same}) R[${o}]`);
    }
    for (let j = 0; j < cols; j++) {
      let want = 0;
      for (let o = 0; o < rows; o++) { let d = 0; for (let t = 0; t < T; t++) d += g[t * rows + o]! * x[t * cols + j]!; want += d * d; }
      close(C[j]!, want, 1e-5, `rows ${rows} (input shared: ${same}) C[${j}]`);
    }
  }
});
