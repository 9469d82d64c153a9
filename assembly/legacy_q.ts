// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (32-weight blocks), as ggml_quantize_chunk
// runs them: quantize_row_*_ref without an imatrix, the per-row *_impl
// weighted searches with one. Dequantizers are ggml's dequantize_row_*.
//
// Bit-exactness notes: every float expression is f32 in C source order; C's
// float -> int8_t/uint8_t casts go through i32 (x86 cvttss2si) and keep the
// low 8 bits; 'd ? 1/d : 0' treats -0 as 0. The SIMD paths (Q4_0 and Q8_0
// without imatrix, all dequantizers) only vectorize element-wise operations
// and order-free maxima, so they produce the same bits as the scalar C.
import { fp32ToFp16, fp16ToFp32, fp32ToFp16x4, fp16ToFp32x4, roundf } from "./common";
import { makeQkx3Quants } from "./kutil";
import { qkxSearch8 } from "./kquants_search";
import { keepSearchLevels, transpose, LAUX as K_LAUX, LB as K_LB, LT as K_LT, OUT as K_OUT, WT as K_WT, XT as K_XT } from "./kquants_simd";
import { makeQxQuants32W } from "./legacy_qx";
import { absBits, blockAbsMaxBits, blockSignedMax } from "./legacy_simd";
import { UNCHECKED } from "./legacy_check";

// Scratch for the imatrix searches (one block at a time).
const WEIGHT: usize = memory.data(32 * 4, 16);
const LQ: usize = memory.data(32, 16);
const LAUX: usize = memory.data(32, 16);
const THE_MIN: usize = memory.data(4, 4);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/** C's (int8_t)(float) then widened back to int, as x86 does it. */
// @ts-ignore: decorator
@inline function toI8(v: f32): i32 {
  return <i32><i8><i32>v;
}

// @ts-ignore: decorator
@inline function minI(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** sum of x^2 over a row, in order, divided by its length: the σ² of the *_impl paths. */
function rowSigma2(x: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < n; j++) {
    const v = ldf(x, j);
    s += v * v;
  }
  return s / <f32>n;
}

/** weight[j] = qw[j] * sqrtf(sigma2 + x[j]^2) for one 32-block (element-wise, so SIMD is exact). */
// @ts-ignore: decorator
@inline function blockWeights(xb: usize, qw: usize, sigma2: f32): void {
  const s2 = f32x4.splat(sigma2);
  for (let j: usize = 0; j < 128; j += 16) {
    const v = v128.load(xb + j);
    v128.store(WEIGHT + j, f32x4.mul(v128.load(qw + j), f32x4.sqrt(f32x4.add(s2, f32x4.mul(v, v)))));
  }
}

// ---------------------------------------------------------------- Q4_0

/** Integer-valued floats in [-2^22, 2^22] -> i32 lanes: add 1.5*2^23, keep the mantissa. */
// @ts-ignore: decorator
@inline function intOfIntegral(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, f32x4.splat(12582912.0)), i32x4.splat(0x4b400000));
}

/** MIN(15, (int8_t)(x*id + 8.5f)) on 4 lanes; the sum is in [0, 16.5] for finite input. */
// @ts-ignore: decorator
@inline function q4Lanes(x: usize, off: usize, idv: v128): v128 {
  const v = f32x4.trunc(f32x4.add(f32x4.mul(v128.load(x + off), idv), f32x4.splat(8.5)));
  return i32x4.min_s(intOfIntegral(v), i32x4.splat(15));
}

/** Returns the first float index of a block holding NaN/Inf (its output is garbage), or -1. */
/** Stores one Q4_0 block's 16 nibble bytes for the reciprocal scale id. */
// @ts-ignore: decorator
@inline function q4_0Nibbles(x: usize, y: usize, id: f32): void {
  const idv = f32x4.splat(id);
  const p0 = v128.or(q4Lanes(x, 0, idv), i32x4.shl(q4Lanes(x, 64, idv), 4));
  const p1 = v128.or(q4Lanes(x, 16, idv), i32x4.shl(q4Lanes(x, 80, idv), 4));
  const p2 = v128.or(q4Lanes(x, 32, idv), i32x4.shl(q4Lanes(x, 96, idv), 4));
  const p3 = v128.or(q4Lanes(x, 48, idv), i32x4.shl(q4Lanes(x, 112, idv), 4));
  v128.store(y, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(p0, p1), i16x8.narrow_i32x4_u(p2, p3)), 2);
}

/** Lane-wise max |x| bits of a 32-block (8 vectors folded to 1; lanes still to be reduced). */
// @ts-ignore: decorator
@inline function blockAbsMaxLanes(x: usize): v128 {
  let m = i32x4.max_s(absBits(x, 0), absBits(x, 16));
  m = i32x4.max_s(m, i32x4.max_s(absBits(x, 32), absBits(x, 48)));
  m = i32x4.max_s(m, i32x4.max_s(absBits(x, 64), absBits(x, 80)));
  return i32x4.max_s(m, i32x4.max_s(absBits(x, 96), absBits(x, 112)));
}

/**
 * Q4_0 without imatrix (quantize_row_q4_0_ref). Four blocks per step share the
 * scalar chain (max / -8, 1/d, fp16) as one SIMD pass: those are element-wise,
 * so the bits are the same. Returns the first float index of a block holding
 * NaN/Inf (its output is garbage), or -1.
 */
function q4_0RefBlocks(x: usize, y: usize, nb: i32): i32 {
  let bad = -1;
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    const m0 = blockAbsMaxLanes(x);
    const m1 = blockAbsMaxLanes(x + 128);
    const m2 = blockAbsMaxLanes(x + 256);
    const m3 = blockAbsMaxLanes(x + 384);
    // [hmax m0, hmax m1, hmax m2, hmax m3]
    const t0 = i32x4.max_s(i8x16.shuffle(m0, m1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(m0, m1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
    const t1 = i32x4.max_s(i8x16.shuffle(m2, m3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(m2, m3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
    const amax = i32x4.max_s(i8x16.shuffle(t0, t1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), i8x16.shuffle(t0, t1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
    if (bad < 0 && v128.any_true(i32x4.gt_s(amax, i32x4.splat(0x7f7fffff)))) {
      for (let k = 0; k < 4; k++) {
        if (blockAbsMaxBits(x + (<usize>k << 7)) > 0x7f7fffff) {
          bad = (i + k) << 5;
          break;
        }
      }
    }
    const max = f32x4(
      blockSignedMax(x, i32x4.extract_lane(amax, 0)),
      blockSignedMax(x + 128, i32x4.extract_lane(amax, 1)),
      blockSignedMax(x + 256, i32x4.extract_lane(amax, 2)),
      blockSignedMax(x + 384, i32x4.extract_lane(amax, 3)),
    );
    const d = f32x4.div(max, f32x4.splat(-8));
    // d ? 1/d : 0 (a -0 scale also gives 0)
    const id = v128.and(f32x4.div(f32x4.splat(1), d), f32x4.ne(d, f32x4.splat(0)));
    const h = fp32ToFp16x4(d);
    store<u16>(y, <u16>i32x4.extract_lane(h, 0));
    store<u16>(y + 18, <u16>i32x4.extract_lane(h, 1));
    store<u16>(y + 36, <u16>i32x4.extract_lane(h, 2));
    store<u16>(y + 54, <u16>i32x4.extract_lane(h, 3));
    q4_0Nibbles(x, y, f32x4.extract_lane(id, 0));
    q4_0Nibbles(x + 128, y + 18, f32x4.extract_lane(id, 1));
    q4_0Nibbles(x + 256, y + 36, f32x4.extract_lane(id, 2));
    q4_0Nibbles(x + 384, y + 54, f32x4.extract_lane(id, 3));
    x += 512;
    y += 72;
  }
  for (; i < nb; i++) {
    const amaxBits = blockAbsMaxBits(x);
    if (amaxBits > 0x7f7fffff && bad < 0) bad = i << 5;
    const max = blockSignedMax(x, amaxBits);
    const d: f32 = max / <f32>-8;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, fp32ToFp16(d));
    q4_0Nibbles(x, y, id);
    x += 128;
    y += 18;
  }
  return bad;
}

function q4_0ImplRow(x: usize, y: usize, n: i32, qw: usize): void {
  const sigma2 = rowSigma2(x, n);
  const nb = n >> 5;
  for (let ib = 0; ib < nb; ib++) {
    const xb = x + (<usize>ib << 7);
    blockWeights(xb, qw + (<usize>ib << 7), sigma2);
    const d = makeQxQuants32W(8, xb, LQ, WEIGHT);
    const yb = y + <usize>ib * 18;
    store<u16>(yb, fp32ToFp16(d));
    for (let j = 0; j < 16; j++) {
      store<u8>(yb + 2 + j, <u8>(load<u8>(LQ + j) | (load<u8>(LQ + j + 16) << 4)));
    }
  }
}

export function quantize_q4_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  if (!qw) return q4_0RefBlocks(src, dst, (nrows * ncols) >> 5);
  const rowBytes = <usize>(ncols >> 5) * 18;
  for (let r = 0; r < nrows; r++) {
    q4_0ImplRow(src + <usize>r * (<usize>ncols << 2), dst + <usize>r * rowBytes, ncols, qw);
  }
  return UNCHECKED;
}

export function dequantize_q4_0(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  const low = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  let i = 0;
  // four scales converted at once (element-wise, same bits)
  for (; i + 4 <= nb; i += 4) {
    const d = fp16ToFp32x4(i32x4(load<u16>(src), load<u16>(src + 18), load<u16>(src + 36), load<u16>(src + 54)));
    for (let k = 0; k < 4; k++) {
      const dk = k == 0 ? i32x4.shuffle(d, d, 0, 0, 0, 0) : k == 1 ? i32x4.shuffle(d, d, 1, 1, 1, 1) : k == 2 ? i32x4.shuffle(d, d, 2, 2, 2, 2) : i32x4.shuffle(d, d, 3, 3, 3, 3);
      const qs = v128.load(src + <usize>k * 18, 2);
      storeI8x16TimesD(dst, i8x16.sub(v128.and(qs, low), eight), dk);
      storeI8x16TimesD(dst + 64, i8x16.sub(i8x16.shr_u(qs, 4), eight), dk);
      dst += 128;
    }
    src += 72;
  }
  for (; i < nb; i++) {
    const d = f32x4.splat(fp16ToFp32(load<u16>(src)));
    const qs = v128.load(src, 2);
    storeI8x16TimesD(dst, i8x16.sub(v128.and(qs, low), eight), d);
    storeI8x16TimesD(dst + 64, i8x16.sub(i8x16.shr_u(qs, 4), eight), d);
    src += 18;
    dst += 128;
  }
}

/** y[0..15] = (float)q[k] * d for 16 signed bytes q. */
// @ts-ignore: decorator
@inline function storeI8x16TimesD(y: usize, q: v128, d: v128): void {
  const lo = i16x8.extend_low_i8x16_s(q);
  const hi = i16x8.extend_high_i8x16_s(q);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d));
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d), 16);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d), 32);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d), 48);
}

/** y[0..15] = (float)q[k] * d + m for 16 unsigned bytes q. */
// @ts-ignore: decorator
@inline function storeU8x16TimesDPlusM(y: usize, q: v128, d: v128, m: v128): void {
  const lo = i16x8.extend_low_i8x16_u(q);
  const hi = i16x8.extend_high_i8x16_u(q);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), d), m));
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), d), m), 16);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), d), m), 32);
  v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), d), m), 48);
}

// ------------------------------------------- make_qkx3_quants, 8 blocks at once

const W256: usize = memory.data(256 * 4, 16);

/**
 * make_qkx3_quants(32, nmax, ..., -0.9, 0.05, 36, false) for the 8 32-blocks at
 * xb with weights qw * sqrtf(sigma2 + x^2): one block per SIMD lane, each lane
 * running C's exact sequence (the K-quant search, kquants_search.ts). Leaves the
 * scales in K_OUT[0..7], the_min in K_OUT[8..15] and the levels (u8) in K_LB.
 */
function qkx3Search8(xb: usize, qw: usize, sigma2: f32, nmax: i32): void {
  const s2 = f32x4.splat(sigma2);
  for (let j: usize = 0; j < 1024; j += 16) {
    const v = v128.load(xb + j);
    v128.store(W256 + j, f32x4.mul(v128.load(qw + j), f32x4.sqrt(f32x4.add(s2, f32x4.mul(v, v)))));
  }
  transpose(xb, 32, K_XT);
  transpose(W256, 32, K_WT);
  qkxSearch8(32, nmax, K_XT, K_WT, K_LT, K_LAUX, K_OUT, -0.9, 0.05, 36, false, true);
  for (let j = 0; j < 8; j++) keepSearchLevels(j, 32);
}

/**
 * The imatrix path of Q4_1 (nmax 15) / Q5_1 (nmax 31) for one row: d, -min
 * and the 32 levels of each block go to D_MIN_L (groups of 8 blocks in SIMD,
 * the rest through the scalar search), then `pack` stores the block.
 */
function qkx3Row(x: usize, y: usize, n: i32, qw: usize, nmax: i32, blockBytes: i32): void {
  const sigma2 = rowSigma2(x, n);
  const nb = n >> 5;
  let ib = 0;
  for (; ib + 8 <= nb; ib += 8) {
    qkx3Search8(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, nmax);
    for (let j = 0; j < 8; j++) {
      packQx1(y + <usize>((ib + j) * blockBytes), nmax, load<f32>(K_OUT + (<usize>j << 2)), load<f32>(K_OUT + (<usize>(8 + j) << 2)), K_LB + (<usize>j << 5));
    }
  }
  for (; ib < nb; ib++) {
    const xb = x + (<usize>ib << 7);
    blockWeights(xb, qw + (<usize>ib << 7), sigma2);
    const d = makeQkx3Quants(32, nmax, xb, WEIGHT, LQ, THE_MIN, LAUX, -0.9, 0.05, 36, false);
    packQx1(y + <usize>(ib * blockBytes), nmax, d, load<f32>(THE_MIN), LQ);
  }
}

/** Stores a Q4_1 (nmax 15) or Q5_1 (nmax 31) block: d, m = -the_min, levels L (u8). */
function packQx1(yb: usize, nmax: i32, d: f32, theMin: f32, L: usize): void {
  store<u16>(yb, fp32ToFp16(d));
  store<u16>(yb, fp32ToFp16(-theMin), 2);
  if (nmax == 15) {
    for (let j = 0; j < 16; j++) store<u8>(yb + 4 + j, <u8>(load<u8>(L + j) | (load<u8>(L + j + 16) << 4)));
  } else {
    storeQ5(yb, 8, 4, L);
  }
}

// ---------------------------------------------------------------- Q4_1

function q4_1RefBlocks(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++) {
    let min: f32 = F32.MAX_VALUE;
    let max: f32 = -F32.MAX_VALUE;
    for (let j = 0; j < 32; j++) {
      const v = ldf(x, j);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d: f32 = (max - min) / <f32>15;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, fp32ToFp16(d));
    store<u16>(y, fp32ToFp16(min), 2);
    for (let j = 0; j < 16; j++) {
      const x0 = (ldf(x, j) - min) * id;
      const x1 = (ldf(x, j + 16) - min) * id;
      const xi0 = minI(15, toI8(x0 + <f32>0.5));
      const xi1 = minI(15, toI8(x1 + <f32>0.5));
      store<u8>(y + 4 + j, <u8>(xi0 | (xi1 << 4)));
    }
    x += 128;
    y += 20;
  }
}

export function quantize_q4_1(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  if (!qw) {
    q4_1RefBlocks(src, dst, (nrows * ncols) >> 5);
    return UNCHECKED;
  }
  const rowBytes = <usize>(ncols >> 5) * 20;
  for (let r = 0; r < nrows; r++) {
    qkx3Row(src + <usize>r * (<usize>ncols << 2), dst + <usize>r * rowBytes, ncols, qw, 15, 20);
  }
  return UNCHECKED;
}

export function dequantize_q4_1(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  const low = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const d = f32x4.splat(fp16ToFp32(load<u16>(src)));
    const m = f32x4.splat(fp16ToFp32(load<u16>(src, 2)));
    const qs = v128.load(src, 4);
    storeU8x16TimesDPlusM(dst, v128.and(qs, low), d, m);
    storeU8x16TimesDPlusM(dst + 64, i8x16.shr_u(qs, 4), d, m);
    src += 20;
    dst += 128;
  }
}

// ---------------------------------------------------------------- Q5_0

/** Packs 32 5-bit levels (u8 at L, or computed) into qs[16] and the 32-bit qh. */
// @ts-ignore: decorator
@inline function storeQ5(y: usize, qsOff: usize, qhOff: usize, L: usize): void {
  let qh: u32 = 0;
  for (let j = 0; j < 16; j++) {
    const xi0: u32 = load<u8>(L + j);
    const xi1: u32 = load<u8>(L + j + 16);
    store<u8>(y + qsOff + j, <u8>((xi0 & 0x0f) | ((xi1 & 0x0f) << 4)));
    qh |= ((xi0 & 0x10) >> 4) << j;
    qh |= ((xi1 & 0x10) >> 4) << (j + 16);
  }
  store<u32>(y + qhOff, qh);
}

/** MIN(31, (int8_t)(x*id + 16.5f)) on 4 lanes; the sum is in [0, 32.5] for finite input. */
// @ts-ignore: decorator
@inline function q5Lanes(x: usize, off: usize, idv: v128): v128 {
  const v = f32x4.trunc(f32x4.add(f32x4.mul(v128.load(x + off), idv), f32x4.splat(16.5)));
  return i32x4.min_s(intOfIntegral(v), i32x4.splat(31));
}

/** Q5_0 without imatrix (quantize_row_q5_0_ref): element-wise SIMD, bit 4 of each level gathered with bitmask. */
function q5_0RefBlocks(x: usize, y: usize, nb: i32): i32 {
  let bad = -1;
  const sixteen = i32x4.splat(16);
  const low = i32x4.splat(15);
  for (let i = 0; i < nb; i++) {
    const amaxBits = blockAbsMaxBits(x);
    if (amaxBits > 0x7f7fffff && bad < 0) bad = i << 5;
    const max = blockSignedMax(x, amaxBits);
    const d: f32 = max / <f32>-16;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, fp32ToFp16(d));
    const idv = f32x4.splat(id);
    const a0 = q5Lanes(x, 0, idv), a1 = q5Lanes(x, 16, idv), a2 = q5Lanes(x, 32, idv), a3 = q5Lanes(x, 48, idv);
    const b0 = q5Lanes(x, 64, idv), b1 = q5Lanes(x, 80, idv), b2 = q5Lanes(x, 96, idv), b3 = q5Lanes(x, 112, idv);
    // qh bit j = bit 4 of level j (j = 0..31, in element order)
    const qh: u32 =
      <u32>i32x4.bitmask(i32x4.ge_s(a0, sixteen)) | (<u32>i32x4.bitmask(i32x4.ge_s(a1, sixteen)) << 4) |
      (<u32>i32x4.bitmask(i32x4.ge_s(a2, sixteen)) << 8) | (<u32>i32x4.bitmask(i32x4.ge_s(a3, sixteen)) << 12) |
      (<u32>i32x4.bitmask(i32x4.ge_s(b0, sixteen)) << 16) | (<u32>i32x4.bitmask(i32x4.ge_s(b1, sixteen)) << 20) |
      (<u32>i32x4.bitmask(i32x4.ge_s(b2, sixteen)) << 24) | (<u32>i32x4.bitmask(i32x4.ge_s(b3, sixteen)) << 28);
    store<u32>(y, qh, 2);
    const p0 = v128.or(v128.and(a0, low), i32x4.shl(v128.and(b0, low), 4));
    const p1 = v128.or(v128.and(a1, low), i32x4.shl(v128.and(b1, low), 4));
    const p2 = v128.or(v128.and(a2, low), i32x4.shl(v128.and(b2, low), 4));
    const p3 = v128.or(v128.and(a3, low), i32x4.shl(v128.and(b3, low), 4));
    v128.store(y, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(p0, p1), i16x8.narrow_i32x4_u(p2, p3)), 6);
    x += 128;
    y += 22;
  }
  return bad;
}

function q5_0ImplRow(x: usize, y: usize, n: i32, qw: usize): void {
  const sigma2 = rowSigma2(x, n);
  const nb = n >> 5;
  for (let ib = 0; ib < nb; ib++) {
    const xb = x + (<usize>ib << 7);
    blockWeights(xb, qw + (<usize>ib << 7), sigma2);
    const d = makeQxQuants32W(16, xb, LQ, WEIGHT);
    const yb = y + <usize>ib * 22;
    store<u16>(yb, fp32ToFp16(d));
    storeQ5(yb, 6, 2, LQ);
  }
}

export function quantize_q5_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  if (!qw) return q5_0RefBlocks(src, dst, (nrows * ncols) >> 5);
  const rowBytes = <usize>(ncols >> 5) * 22;
  for (let r = 0; r < nrows; r++) {
    q5_0ImplRow(src + <usize>r * (<usize>ncols << 2), dst + <usize>r * rowBytes, ncols, qw);
  }
  return UNCHECKED;
}

export function dequantize_q5_0(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    const qh = load<u32>(src, 2);
    for (let j = 0; j < 16; j++) {
      const q = <u32>load<u8>(src + 6 + j);
      const xh0 = ((qh >> j) << 4) & 0x10;
      const xh1 = (qh >> (j + 12)) & 0x10;
      const x0 = <i32>((q & 0x0f) | xh0) - 16;
      const x1 = <i32>((q >> 4) | xh1) - 16;
      store<f32>(dst + (<usize>j << 2), <f32>x0 * d);
      store<f32>(dst + (<usize>(j + 16) << 2), <f32>x1 * d);
    }
    src += 22;
    dst += 128;
  }
}

// ---------------------------------------------------------------- Q5_1

function q5_1RefBlocks(x: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++) {
    let min: f32 = F32.MAX_VALUE;
    let max: f32 = -F32.MAX_VALUE;
    for (let j = 0; j < 32; j++) {
      const v = ldf(x, j);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d: f32 = (max - min) / <f32>31;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, fp32ToFp16(d));
    store<u16>(y, fp32ToFp16(min), 2);
    for (let j = 0; j < 32; j++) {
      // (uint8_t)(x0 + 0.5f): via int, low 8 bits
      store<u8>(LQ + j, <u8><i32>((ldf(x, j) - min) * id + <f32>0.5));
    }
    storeQ5(y, 8, 4, LQ);
    x += 128;
    y += 24;
  }
}

export function quantize_q5_1(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  if (!qw) {
    q5_1RefBlocks(src, dst, (nrows * ncols) >> 5);
    return UNCHECKED;
  }
  const rowBytes = <usize>(ncols >> 5) * 24;
  for (let r = 0; r < nrows; r++) {
    qkx3Row(src + <usize>r * (<usize>ncols << 2), dst + <usize>r * rowBytes, ncols, qw, 31, 24);
  }
  return UNCHECKED;
}

export function dequantize_q5_1(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    const m = fp16ToFp32(load<u16>(src, 2));
    const qh = load<u32>(src, 4);
    for (let j = 0; j < 16; j++) {
      const q = <u32>load<u8>(src + 8 + j);
      const xh0 = ((qh >> j) << 4) & 0x10;
      const xh1 = (qh >> (j + 12)) & 0x10;
      const x0 = <i32>((q & 0x0f) | xh0);
      const x1 = <i32>((q >> 4) | xh1);
      store<f32>(dst + (<usize>j << 2), <f32>x0 * d + m);
      store<f32>(dst + (<usize>(j + 16) << 2), <f32>x1 * d + m);
    }
    src += 24;
    dst += 128;
  }
}

// ---------------------------------------------------------------- Q8_0

/** C's roundf on 4 lanes: truncate, then step away from zero when the rest is >= 0.5. */
// @ts-ignore: decorator
@inline function roundfX4(v: v128): v128 {
  const t = f32x4.trunc(v);
  const far = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const one = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1.0));
  return f32x4.add(t, v128.and(one, far));
}

// @ts-ignore: decorator
@inline function q8Lanes(v: v128, idv: v128): v128 {
  return intOfIntegral(roundfX4(f32x4.mul(v, idv)));
}

/** Returns the first float index of a block holding NaN/Inf (its output is garbage), or -1. */
function q8_0RefBlocks(x: usize, y: usize, nb: i32): i32 {
  let bad = -1;
  for (let i = 0; i < nb; i++) {
    const amaxBits = blockAbsMaxBits(x);
    if (amaxBits > 0x7f7fffff && bad < 0) bad = i << 5;
    const amax = reinterpret<f32>(amaxBits);
    const d: f32 = amax / <f32>127;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, fp32ToFp16(d));
    const idv = f32x4.splat(id);
    const a = i16x8.narrow_i32x4_s(q8Lanes(v128.load(x), idv), q8Lanes(v128.load(x, 16), idv));
    const b = i16x8.narrow_i32x4_s(q8Lanes(v128.load(x, 32), idv), q8Lanes(v128.load(x, 48), idv));
    const c = i16x8.narrow_i32x4_s(q8Lanes(v128.load(x, 64), idv), q8Lanes(v128.load(x, 80), idv));
    const e = i16x8.narrow_i32x4_s(q8Lanes(v128.load(x, 96), idv), q8Lanes(v128.load(x, 112), idv));
    v128.store(y, i8x16.narrow_i16x8_s(a, b), 2);
    v128.store(y, i8x16.narrow_i16x8_s(c, e), 18);
    x += 128;
    y += 34;
  }
  return bad;
}

export function quantize_q8_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  return q8_0RefBlocks(src, dst, (nrows * ncols) >> 5); // Q8_0 ignores the imatrix
}

export function dequantize_q8_0(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  let i = 0;
  // four scales converted at once (element-wise, same bits), then 4 x 32 values
  for (; i + 4 <= nb; i += 4) {
    const d = fp16ToFp32x4(i32x4(load<u16>(src), load<u16>(src + 34), load<u16>(src + 68), load<u16>(src + 102)));
    const d0 = i32x4.shuffle(d, d, 0, 0, 0, 0);
    const d1 = i32x4.shuffle(d, d, 1, 1, 1, 1);
    const d2 = i32x4.shuffle(d, d, 2, 2, 2, 2);
    const d3 = i32x4.shuffle(d, d, 3, 3, 3, 3);
    storeI8x16TimesD(dst, v128.load(src, 2), d0);
    storeI8x16TimesD(dst + 64, v128.load(src, 18), d0);
    storeI8x16TimesD(dst + 128, v128.load(src, 36), d1);
    storeI8x16TimesD(dst + 192, v128.load(src, 52), d1);
    storeI8x16TimesD(dst + 256, v128.load(src, 70), d2);
    storeI8x16TimesD(dst + 320, v128.load(src, 86), d2);
    storeI8x16TimesD(dst + 384, v128.load(src, 104), d3);
    storeI8x16TimesD(dst + 448, v128.load(src, 120), d3);
    src += 136;
    dst += 512;
  }
  for (; i < nb; i++) {
    const d = f32x4.splat(fp16ToFp32(load<u16>(src)));
    storeI8x16TimesD(dst, v128.load(src, 2), d);
    storeI8x16TimesD(dst + 64, v128.load(src, 18), d);
    src += 34;
    dst += 128;
  }
}

/** Scalar Q8_0 reference (for tests of the SIMD path). */
export function quantize_q8_0_scalar(src: usize, dst: usize, nb: i32): void {
  for (let i = 0; i < nb; i++) {
    let amax: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const a = Mathf.abs(ldf(src, j));
      amax = amax > a ? amax : a;
    }
    const d: f32 = amax / <f32>127;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(dst, fp32ToFp16(d));
    for (let j = 0; j < 32; j++) store<i8>(dst + 2 + j, <i8><i32>roundf(ldf(src, j) * id));
    src += 128;
    dst += 34;
  }
}
