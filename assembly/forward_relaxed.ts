// The forward pass's dense f32 matmul with fused multiply-add (relaxed SIMD
// f32x4.relaxed_madd: one FMA instruction per lane group where the CPU has
// FMA). Built as its own module (build/forward-relaxed.wasm) so the main
// kernels stay loadable on engines without relaxed SIMD. Same layout as
// assembly/forward.ts's matmul_f32: y[t, o] = Σ_j x[t, j] · W[o, j]; output
// rows are taken in ~512 KiB blocks whose weights stay in L2 while every
// token group passes over them.

import { f16_to_f32 } from "./forward_ops";
export { attention as attention_fma, silu_mul, round_f16, f16_to_f32, sum_squares } from "./forward_ops";
export * from "./calib_relaxed"; // quantscope calibrate (src/model/calibrate/kernels.ts)

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

export function heap_base(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline function fma(a: v128, b: v128, c: v128): v128 {
  return f32x4.relaxed_madd(a, b, c);
}

function dotRow(xr: usize, wr: usize, n: i32): f32 {
  const n4 = n & ~3;
  let acc = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) {
    const off = <usize>j << 2;
    acc = fma(v128.load(xr + off), v128.load(wr + off), acc);
  }
  let s = hsum(acc);
  for (let j = n4; j < n; j++) s += load<f32>(xr + (<usize>j << 2)) * load<f32>(wr + (<usize>j << 2));
  return s;
}

// ~512 KiB of weight rows per block (an even count): the block stays in L2 while every token
// group passes over it, and the inputs are streamed once per block (with 128 KiB blocks, the
// n = 3072 matmuls spent a fifth of their time re-reading inputs)
// @ts-ignore: decorator
@inline function blockRows(n: i32): i32 {
  const ob = (131072 / n) & ~1;
  return ob < 2 ? 2 : ob;
}

export function matmul_fma(x: usize, T: i32, n: i32, W: usize, m: i32, y: usize, o0: i32, o1: i32): void {
  const ob = blockRows(n);
  for (let b0 = o0; b0 < o1; b0 += ob) matmulBlock(x, T, n, W, m, y, b0, min(o1, b0 + ob));
}

/**
 * matmul_fma with F16 weights (W16: m×n halves): each block of rows is decoded to f32 into `wbuf`
 * (blockRows(n)·n f32 of scratch) just before every token group passes over it, so the f32 copy
 * of the weights never leaves the cache (decoding a whole layer to memory first wrote twice the
 * F16 bytes there and read them back). The same products as matmul_fma on the decoded matrix.
 */
export function matmul_fma_f16(x: usize, T: i32, n: i32, W16: usize, m: i32, y: usize, o0: i32, o1: i32, wbuf: usize): void {
  const ob = blockRows(n);
  const rowBytes = <usize>n << 2;
  for (let b0 = o0; b0 < o1; b0 += ob) {
    const b1 = min(o1, b0 + ob);
    f16_to_f32(W16 + ((<usize>b0 * <usize>n) << 1), wbuf, (b1 - b0) * n);
    matmulBlock(x, T, n, wbuf - <usize>b0 * rowBytes, m, y, b0, b1); // row o of the block at wbuf + (o - b0)·rowBytes
  }
}

/** Output rows [b0, b1) of y = x·Wᵀ against all T tokens; row o of W at W + o·n·4. */
function matmulBlock(x: usize, T: i32, n: i32, W: usize, m: i32, y: usize, b0: i32, b1: i32): void {
  const n4 = n & ~3;
  const rowBytes = <usize>n << 2;
  const ym = <usize>m << 2;
  {
    let t = 0;
    for (; t + 3 < T; t += 4) {
      const xa = x + <usize>t * rowBytes;
      const xb = xa + rowBytes, xc = xb + rowBytes, xd = xc + rowBytes;
      let o = b0;
      for (; o + 1 < b1; o += 2) {
        const wa = W + <usize>o * rowBytes;
        const wb = wa + rowBytes;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        for (let j = 0; j < n4; j += 4) {
          const off = <usize>j << 2;
          const w0 = v128.load(wa + off), w1 = v128.load(wb + off);
          const v0 = v128.load(xa + off), v1 = v128.load(xb + off), v2 = v128.load(xc + off), v3 = v128.load(xd + off);
          a0 = fma(v0, w0, a0); c0 = fma(v0, w1, c0);
          a1 = fma(v1, w0, a1); c1 = fma(v1, w1, c1);
          a2 = fma(v2, w0, a2); c2 = fma(v2, w1, c2);
          a3 = fma(v3, w0, a3); c3 = fma(v3, w1, c3);
        }
        let sa0 = hsum(a0), sa1 = hsum(a1), sa2 = hsum(a2), sa3 = hsum(a3);
        let sb0 = hsum(c0), sb1 = hsum(c1), sb2 = hsum(c2), sb3 = hsum(c3);
        for (let j = n4; j < n; j++) {
          const off = <usize>j << 2;
          const w0 = load<f32>(wa + off), w1 = load<f32>(wb + off);
          const v0 = load<f32>(xa + off), v1 = load<f32>(xb + off), v2 = load<f32>(xc + off), v3 = load<f32>(xd + off);
          sa0 += v0 * w0; sa1 += v1 * w0; sa2 += v2 * w0; sa3 += v3 * w0;
          sb0 += v0 * w1; sb1 += v1 * w1; sb2 += v2 * w1; sb3 += v3 * w1;
        }
        const ya = y + ((<usize>t * <usize>m + <usize>o) << 2);
        store<f32>(ya, sa0); store<f32>(ya + ym, sa1); store<f32>(ya + 2 * ym, sa2); store<f32>(ya + 3 * ym, sa3);
        store<f32>(ya + 4, sb0); store<f32>(ya + ym + 4, sb1); store<f32>(ya + 2 * ym + 4, sb2); store<f32>(ya + 3 * ym + 4, sb3);
      }
      for (; o < b1; o++) {
        const wa = W + <usize>o * rowBytes;
        for (let k = 0; k < 4; k++) store<f32>(y + ((<usize>(t + k) * <usize>m + <usize>o) << 2), dotRow(xa + <usize>k * rowBytes, wa, n));
      }
    }
    for (; t < T; t++) {
      const xr = x + <usize>t * rowBytes;
      for (let o = b0; o < b1; o++) store<f32>(y + ((<usize>t * <usize>m + <usize>o) << 2), dotRow(xr, W + <usize>o * rowBytes, n));
    }
  }
}
