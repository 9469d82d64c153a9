// Shared scalar helpers for kernels. f32 arithmetic in WASM is IEEE single
// precision without FMA, like llama.cpp's reference C compiled for baseline
// x86-64, so writing the same operations in the same order gives the same bits.

/** First byte above static data; the host allocates from here. */
export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline export function f32Bits(x: f32): u32 {
  return reinterpret<u32>(x);
}

// @ts-ignore: decorator
@inline export function bitsF32(x: u32): f32 {
  return reinterpret<f32>(x);
}

/** fp32 -> fp16 bits, round to nearest even; NaN -> sign|0x7E00 (ggml's software routine). */
export function fp32ToFp16(f: f32): u16 {
  const scaleToInf: f32 = reinterpret<f32>(<u32>0x77800000); // 2^112
  const scaleToZero: f32 = reinterpret<f32>(<u32>0x08800000); // 2^-110
  let base: f32 = (Mathf.abs(f) * scaleToInf) * scaleToZero;
  const w = reinterpret<u32>(f);
  const shl1w: u32 = w + w;
  const sign: u32 = w & 0x80000000;
  let bias: u32 = shl1w & 0xff000000;
  if (bias < 0x71000000) bias = 0x71000000;
  base = reinterpret<f32>((bias >> 1) + 0x07800000) + base;
  const bits = reinterpret<u32>(base);
  const expBits: u32 = (bits >> 13) & 0x00007c00;
  const mantBits: u32 = bits & 0x00000fff;
  const nonsign: u32 = expBits + mantBits;
  return <u16>((sign >> 16) | (shl1w > 0xff000000 ? <u32>0x7e00 : nonsign));
}

/** fp16 bits -> fp32 (exact). */
export function fp16ToFp32(h: u16): f32 {
  const w: u32 = (<u32>h) << 16;
  const sign: u32 = w & 0x80000000;
  const twoW: u32 = w + w;
  const expOffset: u32 = (<u32>0xe0) << 23;
  const expScale: f32 = reinterpret<f32>(<u32>0x07800000); // 2^-112
  const normalized: f32 = reinterpret<f32>((twoW >> 4) + expOffset) * expScale;
  const magicMask: u32 = (<u32>126) << 23;
  const denormalized: f32 = reinterpret<f32>((twoW >> 17) | magicMask) - <f32>0.5;
  const cutoff: u32 = (<u32>1) << 27;
  return reinterpret<f32>(sign | (twoW < cutoff ? reinterpret<u32>(denormalized) : reinterpret<u32>(normalized)));
}

/** fp32 -> bf16 bits, round to nearest even; NaN keeps its top bits and is made quiet. */
export function fp32ToBf16(f: f32): u16 {
  const u = reinterpret<u32>(f);
  if ((u & 0x7fffffff) > 0x7f800000) return <u16>((u >> 16) | 64);
  return <u16>((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

/** bf16 bits -> fp32 (exact). */
// @ts-ignore: decorator
@inline export function bf16ToFp32(h: u16): f32 {
  return reinterpret<f32>((<u32>h) << 16);
}

/** ggml's nearest_int: round half to even via the 1.5*2^23 trick; valid for |x| <= 4194303. */
// @ts-ignore: decorator
@inline export function nearestInt(x: f32): i32 {
  const v: f32 = x + <f32>12582912.0;
  return <i32>(reinterpret<u32>(v) & 0x007fffff) - 0x00400000;
}

/** C's roundf: halves away from zero. */
// @ts-ignore: decorator
@inline export function roundf(x: f32): f32 {
  const t = Mathf.trunc(x);
  const d = Mathf.abs(x - t);
  return d >= <f32>0.5 ? t + copysign<f32>(<f32>1.0, x) : t;
}

/** ggml's software fp32 -> fp16 (fp32ToFp16 above) on 4 lanes; same bit operations. */
// @ts-ignore: decorator
@inline export function fp32ToFp16x4(f: v128): v128 {
  let base = f32x4.mul(f32x4.mul(f32x4.abs(f), f32x4.splat(reinterpret<f32>(<u32>0x77800000))), f32x4.splat(reinterpret<f32>(<u32>0x08800000)));
  const shl1w = i32x4.add(f, f);
  const sign = v128.and(f, i32x4.splat(0x80000000));
  const bias = i32x4.max_u(v128.and(shl1w, i32x4.splat(0xff000000)), i32x4.splat(0x71000000));
  base = f32x4.add(i32x4.add(i32x4.shr_u(bias, 1), i32x4.splat(0x07800000)), base);
  const nonsign = i32x4.add(v128.and(i32x4.shr_u(base, 13), i32x4.splat(0x00007c00)), v128.and(base, i32x4.splat(0x00000fff)));
  const nan = i32x4.gt_u(shl1w, i32x4.splat(0xff000000));
  return v128.or(i32x4.shr_u(sign, 16), v128.bitselect(i32x4.splat(0x7e00), nonsign, nan));
}

/** ggml's fp16 -> fp32 (fp16ToFp32 above) on 4 lanes holding u16 values; same bit operations. */
// @ts-ignore: decorator
@inline export function fp16ToFp32x4(h: v128): v128 {
  const w = i32x4.shl(h, 16);
  const sign = v128.and(w, i32x4.splat(0x80000000));
  const twoW = i32x4.add(w, w);
  const normalized = f32x4.mul(i32x4.add(i32x4.shr_u(twoW, 4), i32x4.splat(0xe0 << 23)), f32x4.splat(reinterpret<f32>(<u32>0x07800000)));
  const denormalized = f32x4.sub(v128.or(i32x4.shr_u(twoW, 17), i32x4.splat(126 << 23)), f32x4.splat(0.5));
  const small = i32x4.lt_u(twoW, i32x4.splat(1 << 27));
  return v128.or(sign, v128.bitselect(denormalized, normalized, small));
}
