// SIMD helpers shared by the 32-block kernels: order-free block maxima.

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// Finite floats order like their bit patterns once the sign is cleared, so
// the block max |x| is an integer max (one instruction, unlike f32x4.max).
// @ts-ignore: decorator
@inline export function absBits(x: usize, off: usize): v128 {
  return v128.and(v128.load(x + off), i32x4.splat(0x7fffffff));
}

/** max |x| over a 32-block, as bits (input is finite: NaN/Inf are screened out before). */
// @ts-ignore: decorator
@inline export function blockAbsMaxBits(x: usize): i32 {
  let m = i32x4.max_s(absBits(x, 0), absBits(x, 16));
  m = i32x4.max_s(m, i32x4.max_s(absBits(x, 32), absBits(x, 48)));
  m = i32x4.max_s(m, i32x4.max_s(absBits(x, 64), absBits(x, 80)));
  m = i32x4.max_s(m, i32x4.max_s(absBits(x, 96), absBits(x, 112)));
  m = i32x4.max_s(m, i8x16.shuffle(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  m = i32x4.max_s(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  return i32x4.extract_lane(m, 0);
}

/**
 * The signed value C's `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }`
 * ends with: the first element whose |x| is the maximum (+0 if all are zero).
 */
// @ts-ignore: decorator
@inline export function blockSignedMax(x: usize, amaxBits: i32): f32 {
  if (amaxBits == 0) return 0;
  const t = i32x4.splat(amaxBits);
  const m0 = i32x4.bitmask(i32x4.eq(absBits(x, 0), t)) | (i32x4.bitmask(i32x4.eq(absBits(x, 16), t)) << 4);
  const m1 = i32x4.bitmask(i32x4.eq(absBits(x, 32), t)) | (i32x4.bitmask(i32x4.eq(absBits(x, 48), t)) << 4);
  const m2 = i32x4.bitmask(i32x4.eq(absBits(x, 64), t)) | (i32x4.bitmask(i32x4.eq(absBits(x, 80), t)) << 4);
  const m3 = i32x4.bitmask(i32x4.eq(absBits(x, 96), t)) | (i32x4.bitmask(i32x4.eq(absBits(x, 112), t)) << 4);
  const mask = m0 | (m1 << 8) | (m2 << 16) | (m3 << 24);
  return load<f32>(x + (<usize>ctz(mask) << 2));
}

