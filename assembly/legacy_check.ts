// Input screening shared by the block quantizers: ggml has no defined result
// for NaN/Inf input, so the host rejects it (see docs/codecs.md, NaN policy).

/**
 * Result of a quantize kernel that did not screen its input for NaN/Inf (the
 * host then runs firstNonFinite). Screening kernels return -1 (clean) or the
 * index of the first float of the first block holding NaN/Inf.
 */
export const UNCHECKED: i32 = -2;

/** Index of the first NaN or +-Inf among n floats at src, or -1. */
export function firstNonFinite(src: usize, n: i32): i32 {
  const absMask = i32x4.splat(0x7fffffff);
  const finiteMax = i32x4.splat(0x7f7fffff);
  let i = 0;
  // 16 floats per step: OR the "exponent all ones" masks, look closer only on a hit.
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2);
    const a = i32x4.gt_s(v128.and(v128.load(p), absMask), finiteMax);
    const b = i32x4.gt_s(v128.and(v128.load(p, 16), absMask), finiteMax);
    const c = i32x4.gt_s(v128.and(v128.load(p, 32), absMask), finiteMax);
    const d = i32x4.gt_s(v128.and(v128.load(p, 48), absMask), finiteMax);
    if (v128.any_true(v128.or(v128.or(a, b), v128.or(c, d)))) break;
  }
  for (; i < n; i++) {
    if ((load<u32>(src + (<usize>i << 2)) & 0x7fffffff) > 0x7f7fffff) return i;
  }
  return -1;
}
