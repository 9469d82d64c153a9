// The forward pass's dense f32 matmul with fused multiply-add (relaxed SIMD
// f32x4.relaxed_madd: one FMA instruction per lane group where the CPU has
// FMA). Built as its own module (build/forward-relaxed.wasm) so the main
// kernels stay loadable on engines without relaxed SIMD. Same layout as
// assembly/forward.ts's matmul_f32: y[t, o] = Σ_j x[t, j] · W[o, j]; output
// rows are taken in ~512 KiB blocks whose weights stay in L2 while every
// token group passes over them.

export { attention as attention_fma, silu_mul, round_f16, f16_to_f32 } from "./forward_ops";

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

export function matmul_fma(x: usize, T: i32, n: i32, W: usize, m: i32, y: usize, o0: i32, o1: i32): void {
  const n4 = n & ~3;
  const rowBytes = <usize>n << 2;
  const ym = <usize>m << 2;
  // ~512 KiB of weight rows per block (an even count): the block stays in L2 while every token
  // group passes over it, and the inputs are streamed once per block (with 128 KiB blocks, the
  // n = 3072 matmuls spent a fifth of their time re-reading inputs)
  let ob = (131072 / n) & ~1;
  if (ob < 2) ob = 2;
  for (let b0 = o0; b0 < o1; b0 += ob) {
    const b1 = min(o1, b0 + ob);
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
