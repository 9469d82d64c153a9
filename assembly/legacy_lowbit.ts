// NVFP4 (64-blocks: four UE4M3 sub-block scales + E2M1 nibbles), Q1_0
// (128-blocks: fp16 mean |x| + sign bits) and Q2_0 (64-blocks: fp16 max |x| +
// 2-bit codes): quantize_row_{nvfp4,q1_0,q2_0}_ref and their dequantizers.
// ggml's quantize_{nvfp4,q1_0,q2_0} ignore the imatrix (Q1_0/Q2_0 only switch
// to a row-by-row loop over the same _ref function), so qw is unused here.
// Every kernel returns UNCHECKED: the host screens for NaN/Inf (SIMD pass).
import { fp32ToFp16, fp16ToFp32, fp16ToFp32x4 } from "./common";
import { UNCHECKED } from "./legacy_check";

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// ---------------------------------------------------------------- NVFP4

/** kvalues_fp4 as int8 (E2M1 values doubled), for i8x16.swizzle. */
const KV_I8: usize = memory.data<i8>([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

/**
 * ggml_ue4m3_to_fp32 (value * 0.5) for all 256 byte values. Bit 7 is ignored by
 * the C code (exp = (x >> 3) & 0xF), and only 0x00 and 0x7F map to 0. Every
 * entry is exact (ldexpf of a 4-bit significand), so a table gives C's bits.
 */
const UE4M3: usize = memory.data(256 * 4, 16);
let ue4m3Ready = false;

function initUe4m3(): void {
  for (let x = 0; x < 256; x++) {
    let v: f32 = 0;
    if (x != 0 && x != 0x7f) {
      const e = (x >> 3) & 0xf;
      const m = x & 7;
      // ldexpf((float)man, -9) or ldexpf(1 + man/8.0f, exp - 7): exact powers of two
      const raw: f32 = e == 0
        ? <f32>m * reinterpret<f32>(<u32>(127 - 9) << 23)
        : (<f32>1 + <f32>m / <f32>8) * reinterpret<f32>(<u32>(127 + e - 7) << 23);
      v = raw * <f32>0.5;
    }
    store<f32>(UE4M3 + (<usize>x << 2), v);
  }
  ue4m3Ready = true;
}

/** ggml_fp32_to_ue4m3, branch for branch (x = amax / 6.0f, finite and >= 0 here). */
function fp32ToUe4m3(x: f32): u32 {
  if (!(x > 0)) return 0;
  if (x > <f32>448) x = 448;
  const bits = reinterpret<u32>(x);
  const e = <i32>((bits >> 23) & 0xff) - 127 + 7;
  if (e <= 0) {
    // subnormal: (int)(x * 512.0f + 0.5f), x < 2^-6 so the sum is in [0.5, 8.5]
    let man = <i32>(x * <f32>512 + <f32>0.5);
    if (man > 7) man = 7;
    if (man < 1) return 0;
    return <u32>man;
  }
  if (e >= 15) return 0x7e;
  let man = <i32>((bits >> 20) & 7) + <i32>((bits >> 19) & 1);
  let ex = e;
  if (man > 7) {
    man = 0;
    ex++;
    if (ex >= 15) return 0x7e;
  }
  return <u32>((ex << 3) | man);
}

/**
 * best_index_mxfp4(x, d) on 4 lanes. C scans all 16 candidates |kv[i]*d - x|
 * and keeps the first strict minimum. The 8 candidates of x's opposite sign
 * never win: with a = |x| and c = kv[i]*d >= 0, fl(c + a) >= fl(|c - a|), and
 * index 8 (zero again) never beats index 0. So the search runs over the 8
 * non-negative values with err = |c - a| (the same float, since negating is
 * exact): its first minimum k is C's answer for x >= 0 (and -0). For x < 0,
 * C's answer is k + 8, except when k = 0: then no candidate beat |x| and
 * C keeps index 0.
 */
// @ts-ignore: decorator
@inline function bestIndexFp4(x: v128, c1: v128, c2: v128, c3: v128, c4: v128, c6: v128, c8: v128, c12: v128): v128 {
  const a = f32x4.abs(x);
  let bestErr = a; // candidate 0: |0*d - a|
  let best = i32x4.splat(0);
  let err = f32x4.abs(f32x4.sub(c1, a));
  let better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(1), best, better); bestErr = v128.bitselect(err, bestErr, better);
  err = f32x4.abs(f32x4.sub(c2, a)); better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(2), best, better); bestErr = v128.bitselect(err, bestErr, better);
  err = f32x4.abs(f32x4.sub(c3, a)); better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(3), best, better); bestErr = v128.bitselect(err, bestErr, better);
  err = f32x4.abs(f32x4.sub(c4, a)); better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(4), best, better); bestErr = v128.bitselect(err, bestErr, better);
  err = f32x4.abs(f32x4.sub(c6, a)); better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(5), best, better); bestErr = v128.bitselect(err, bestErr, better);
  err = f32x4.abs(f32x4.sub(c8, a)); better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(6), best, better); bestErr = v128.bitselect(err, bestErr, better);
  err = f32x4.abs(f32x4.sub(c12, a)); better = f32x4.lt(err, bestErr);
  best = v128.bitselect(i32x4.splat(7), best, better);
  // x < 0 and k > 0: the negative twin k + 8
  const neg = v128.and(f32x4.lt(x, f32x4.splat(0)), i32x4.gt_s(best, i32x4.splat(0)));
  return v128.or(best, v128.and(neg, i32x4.splat(8)));
}

// @ts-ignore: decorator
@inline function absMax16Bits(x: usize): i32 {
  const mask = i32x4.splat(0x7fffffff);
  let m = i32x4.max_s(v128.and(v128.load(x), mask), v128.and(v128.load(x, 16), mask));
  m = i32x4.max_s(m, i32x4.max_s(v128.and(v128.load(x, 32), mask), v128.and(v128.load(x, 48), mask)));
  m = i32x4.max_s(m, i8x16.shuffle(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  m = i32x4.max_s(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  return i32x4.extract_lane(m, 0);
}

export function quantize_nvfp4(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  if (!ue4m3Ready) initUe4m3();
  const nsub = (nrows * ncols) >> 4;
  let x = src;
  for (let s = 0; s < nsub; s++) {
    const y = dst + <usize>(s >> 2) * 36;
    const sub = <usize>(s & 3);
    // amax as (amax < fabsf(v) ? fabsf(v) : amax): the max |x| (finite input)
    const amax = reinterpret<f32>(absMax16Bits(x));
    const ue = fp32ToUe4m3(amax / <f32>6.0);
    store<u8>(y + sub, <u8>ue);
    const d = f32x4.splat(load<f32>(UE4M3 + (<usize>ue << 2)));
    // kvalues_mxfp4[i]*d: int8 converted to float, times d
    const c1 = f32x4.mul(f32x4.splat(1), d), c2 = f32x4.mul(f32x4.splat(2), d);
    const c3 = f32x4.mul(f32x4.splat(3), d), c4 = f32x4.mul(f32x4.splat(4), d);
    const c6 = f32x4.mul(f32x4.splat(6), d), c8 = f32x4.mul(f32x4.splat(8), d);
    const c12 = f32x4.mul(f32x4.splat(12), d);
    const b0 = bestIndexFp4(v128.load(x), c1, c2, c3, c4, c6, c8, c12);
    const b1 = bestIndexFp4(v128.load(x, 16), c1, c2, c3, c4, c6, c8, c12);
    const b2 = bestIndexFp4(v128.load(x, 32), c1, c2, c3, c4, c6, c8, c12);
    const b3 = bestIndexFp4(v128.load(x, 48), c1, c2, c3, c4, c6, c8, c12);
    // qs[j] = best(x[j]) | best(x[8 + j]) << 4, j = 0..7
    const lo = v128.or(b0, i32x4.shl(b2, 4));
    const hi = v128.or(b1, i32x4.shl(b3, 4));
    const bytes = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(lo, hi), i32x4.splat(0));
    v128.store64_lane(y + 4 + (sub << 3), bytes, 0);
    x += 64;
  }
  return UNCHECKED;
}

export function dequantize_nvfp4(src: usize, dst: usize, n: i32): void {
  if (!ue4m3Ready) initUe4m3();
  const nsub = n >> 4;
  const kv = v128.load(KV_I8);
  const nib = i8x16.splat(0x0f);
  let y = dst;
  for (let s = 0; s < nsub; s++) {
    const blk = src + <usize>(s >> 2) * 36;
    const sub = <usize>(s & 3);
    const d = f32x4.splat(load<f32>(UE4M3 + (<usize>load<u8>(blk + sub) << 2)));
    const q = v128.load64_zero(blk + 4 + (sub << 3));
    // lanes 0..7: low nibbles (y[0..7]), lanes 8..15: high nibbles (y[8..15])
    const idx = i8x16.shuffle(v128.and(q, nib), i8x16.shr_u(q, 4), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const v = i8x16.swizzle(kv, idx);
    const w0 = i16x8.extend_low_i8x16_s(v);
    const w1 = i16x8.extend_high_i8x16_s(v);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0)), d));
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0)), d), 16);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1)), d), 32);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1)), d), 48);
    y += 64;
  }
}

// ---------------------------------------------------------------- Q1_0

/** 16 sign bits (x >= 0.0f -> 1) of 16 floats at x, bit j = element j. */
// @ts-ignore: decorator
@inline function signBits16(x: usize): u32 {
  const z = f32x4.splat(0);
  const a = i16x8.narrow_i32x4_s(f32x4.ge(v128.load(x), z), f32x4.ge(v128.load(x, 16), z));
  const b = i16x8.narrow_i32x4_s(f32x4.ge(v128.load(x, 32), z), f32x4.ge(v128.load(x, 48), z));
  return i8x16.bitmask(i8x16.narrow_i16x8_s(a, b));
}

// @ts-ignore: decorator
@inline function q1_0Bits(x: usize, y: usize): void {
  for (let j = 0; j < 8; j++) store<u16>(y + 2 + (<usize>j << 1), <u16>signBits16(x + (<usize>j << 6)));
}

/**
 * Four 128-blocks at once, one per lane: each lane adds |x| in C's order
 * (j = 0..127), so every sum is bit-identical to the scalar loop. Four
 * consecutive floats of each block are transposed into the lanes.
 */
function q1_0Blocks4(x: usize, y: usize): void {
  let acc = f32x4.splat(0);
  for (let j = 0; j < 128; j += 4) {
    const p = x + (<usize>j << 2);
    const r0 = f32x4.abs(v128.load(p));
    const r1 = f32x4.abs(v128.load(p, 512));
    const r2 = f32x4.abs(v128.load(p, 1024));
    const r3 = f32x4.abs(v128.load(p, 1536));
    const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5); // a0 b0 a1 b1
    const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5); // c0 d0 c1 d1
    const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7); // a2 b2 a3 b3
    const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7); // c2 d2 c3 d3
    acc = f32x4.add(acc, i32x4.shuffle(t0, t1, 0, 1, 4, 5)); // column j
    acc = f32x4.add(acc, i32x4.shuffle(t0, t1, 2, 3, 6, 7)); // j + 1
    acc = f32x4.add(acc, i32x4.shuffle(t2, t3, 0, 1, 4, 5)); // j + 2
    acc = f32x4.add(acc, i32x4.shuffle(t2, t3, 2, 3, 6, 7)); // j + 3
  }
  // d = sum_abs / qk (division by 128.0f)
  const d = f32x4.div(acc, f32x4.splat(128));
  store<u16>(y, fp32ToFp16(f32x4.extract_lane(d, 0)));
  store<u16>(y + 18, fp32ToFp16(f32x4.extract_lane(d, 1)));
  store<u16>(y + 36, fp32ToFp16(f32x4.extract_lane(d, 2)));
  store<u16>(y + 54, fp32ToFp16(f32x4.extract_lane(d, 3)));
  q1_0Bits(x, y);
  q1_0Bits(x + 512, y + 18);
  q1_0Bits(x + 1024, y + 36);
  q1_0Bits(x + 1536, y + 54);
}

export function quantize_q1_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nb = (nrows * ncols) >> 7;
  let x = src;
  let y = dst;
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    q1_0Blocks4(x, y);
    x += 2048;
    y += 72;
  }
  for (; i < nb; i++) {
    let sum: f32 = 0;
    for (let j = 0; j < 128; j++) sum += Mathf.abs(ldf(x, j));
    store<u16>(y, fp32ToFp16(sum / <f32>128));
    q1_0Bits(x, y);
    x += 512;
    y += 18;
  }
  return UNCHECKED;
}

/** For each byte value, 8 lanes of sign masks: 0 where the bit is set (+d), 0x80000000 where clear (-d). */
const Q1_SIGNS: usize = memory.data(256 * 32, 16);
let q1SignsReady = false;

function initQ1Signs(): void {
  for (let b = 0; b < 256; b++) {
    for (let j = 0; j < 8; j++) store<u32>(Q1_SIGNS + (<usize>b << 5) + (<usize>j << 2), (b >> j) & 1 ? 0 : 0x80000000);
  }
  q1SignsReady = true;
}

export function dequantize_q1_0(src: usize, dst: usize, n: i32): void {
  if (!q1SignsReady) initQ1Signs();
  const nb = n >> 7;
  let y = dst;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>i * 18;
    // bit ? d : -d, where -d flips the sign bit (as C's unary minus does)
    const d = f32x4.splat(fp16ToFp32(load<u16>(x)));
    for (let k = 0; k < 16; k++) {
      const t = Q1_SIGNS + (<usize>load<u8>(x + 2 + k) << 5);
      v128.store(y, v128.xor(d, v128.load(t)));
      v128.store(y, v128.xor(d, v128.load(t, 16)), 16);
      y += 32;
    }
  }
}

// ---------------------------------------------------------------- Q2_0

/** C's roundf on 4 lanes: truncate, then step away from zero when the rest is >= 0.5. */
// @ts-ignore: decorator
@inline function roundfX4(v: v128): v128 {
  const t = f32x4.trunc(v);
  const far = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const one = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1.0));
  return f32x4.add(t, v128.and(one, far));
}

/** (int)roundf(w*id) + 1 clamped to [0, 3], for |w*id| <= ~1 (finite id). */
// @ts-ignore: decorator
@inline function q2Lanes(x: usize, off: usize, idv: v128): v128 {
  const q = i32x4.add(i32x4.trunc_sat_f32x4_s(roundfX4(f32x4.mul(v128.load(x + off), idv))), i32x4.splat(1));
  return i32x4.min_s(i32x4.max_s(q, i32x4.splat(0)), i32x4.splat(3));
}

/** 16 codes (i32 lanes, 4 vectors in element order) -> 4 bytes, element j at bits 2*(j%4) of byte j/4. */
// @ts-ignore: decorator
@inline function pack2(a: v128, b: v128, c: v128, e: v128): v128 {
  const q = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, e)); // codes 0..15
  const odd8 = i16x8.splat(<i16>0xff00);
  const p = i16x8.extadd_pairwise_i8x16_u(v128.bitselect(i8x16.shl(q, 2), q, odd8)); // e0 | e1 << 2
  const odd16 = i32x4.splat(0xffff0000);
  return i32x4.extadd_pairwise_i16x8_u(v128.bitselect(i16x8.shl(p, 4), p, odd16)); // | (e2 | e3 << 2) << 4
}

export function quantize_q2_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nb = (nrows * ncols) >> 6;
  let x = src;
  let y = dst;
  const mask = i32x4.splat(0x7fffffff);
  for (let i = 0; i < nb; i++) {
    // amax = max |x| ("if (a > amax) amax = a"), as bits (finite input)
    let m = i32x4.max_s(v128.and(v128.load(x), mask), v128.and(v128.load(x, 16), mask));
    for (let j = 32; j < 256; j += 32) {
      m = i32x4.max_s(m, i32x4.max_s(v128.and(v128.load(x + j), mask), v128.and(v128.load(x + j, 16), mask)));
    }
    m = i32x4.max_s(m, i8x16.shuffle(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    m = i32x4.max_s(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
    const d = reinterpret<f32>(i32x4.extract_lane(m, 0));
    const id: f32 = d > 0 ? <f32>1.0 / d : 0;
    store<u16>(y, fp32ToFp16(d));
    if (reinterpret<u32>(id) == 0x7f800000) {
      // d below 2^-128: 1/d overflows, every w*id is +-inf or NaN, and C's
      // (int) of those is INT_MIN, so every code clamps to 0
      v128.store(y, i32x4.splat(0), 2);
    } else {
      const idv = f32x4.splat(id);
      const g0 = pack2(q2Lanes(x, 0, idv), q2Lanes(x, 16, idv), q2Lanes(x, 32, idv), q2Lanes(x, 48, idv));
      const g1 = pack2(q2Lanes(x, 64, idv), q2Lanes(x, 80, idv), q2Lanes(x, 96, idv), q2Lanes(x, 112, idv));
      const g2 = pack2(q2Lanes(x, 128, idv), q2Lanes(x, 144, idv), q2Lanes(x, 160, idv), q2Lanes(x, 176, idv));
      const g3 = pack2(q2Lanes(x, 192, idv), q2Lanes(x, 208, idv), q2Lanes(x, 224, idv), q2Lanes(x, 240, idv));
      v128.store(y, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(g0, g1), i16x8.narrow_i32x4_u(g2, g3)), 2);
    }
    x += 256;
    y += 18;
  }
  return UNCHECKED;
}

/** For each byte value, its 4 codes minus one as floats: ((int)q - 1), exact. */
const Q2_LEVELS: usize = memory.data(256 * 16, 16);
let q2LevelsReady = false;

function initQ2Levels(): void {
  for (let b = 0; b < 256; b++) {
    for (let j = 0; j < 4; j++) store<f32>(Q2_LEVELS + (<usize>b << 4) + (<usize>j << 2), <f32>(((b >> (2 * j)) & 3) - 1));
  }
  q2LevelsReady = true;
}

/** One block's 64 values: ((int)q - 1) * d, from the level table. */
// @ts-ignore: decorator
@inline function q2Block(qs: usize, d: v128, y: usize): void {
  for (let k = 0; k < 16; k++) {
    v128.store(y + (<usize>k << 4), f32x4.mul(v128.load(Q2_LEVELS + (<usize>load<u8>(qs + k) << 4)), d));
  }
}

export function dequantize_q2_0(src: usize, dst: usize, n: i32): void {
  if (!q2LevelsReady) initQ2Levels();
  const nb = n >> 6;
  let y = dst;
  let i = 0;
  // four scales converted at once (element-wise, same bits)
  for (; i + 4 <= nb; i += 4) {
    const x = src + <usize>i * 18;
    const dd = fp16ToFp32x4(i32x4(load<u16>(x), load<u16>(x + 18), load<u16>(x + 36), load<u16>(x + 54)));
    q2Block(x + 2, i32x4.shuffle(dd, dd, 0, 0, 0, 0), y);
    q2Block(x + 20, i32x4.shuffle(dd, dd, 1, 1, 1, 1), y + 256);
    q2Block(x + 38, i32x4.shuffle(dd, dd, 2, 2, 2, 2), y + 512);
    q2Block(x + 56, i32x4.shuffle(dd, dd, 3, 3, 3, 3), y + 768);
    y += 1024;
  }
  for (; i < nb; i++) {
    const x = src + <usize>i * 18;
    q2Block(x + 2, f32x4.splat(fp16ToFp32(load<u16>(x))), y);
    y += 256;
  }
}
