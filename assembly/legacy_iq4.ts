// IQ4_NL (32-blocks) and IQ4_XS (256-superblocks of 32-blocks): the
// non-linear 16-level grid kvalues_iq4nl, quantized by ggml's
// quantize_row_iq4_nl_impl with ntry = 7 (what ggml_quantize_chunk runs, with
// or without an imatrix; only the weights change).
import { fp32ToFp16, fp16ToFp32, nearestInt } from "./common";
import { blockAbsMaxBits, blockSignedMax } from "./legacy_simd";
import { UNCHECKED } from "./legacy_check";

const GROUP_MAX_EPS: f32 = 1e-15;

/** kvalues_iq4nl as floats (format constants). */
const VALUES: usize = memory.data<f32>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

const WEIGHT: usize = memory.data(32 * 4, 16);
const SCALES: usize = memory.data(8 * 4, 16);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function value(l: i32): f32 {
  return load<f32>(VALUES + (<usize>l << 2));
}

/** kvalues_iq4nl as int8 bytes, for swizzle lookups. */
const VALUES_I8: usize = memory.data<i8>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

/**
 * best_index_int8 on 4 lanes: the count of midpoints (values[j-1] + values[j])
 * that 2x reaches. The midpoints increase strictly, so this is exactly the
 * index C's branch-free binary search lands on.
 */
// @ts-ignore: decorator
@inline function bestIndexV(al: v128): v128 {
  const x2 = f32x4.add(al, al);
  let c = i32x4.sub(i32x4.splat(0), f32x4.ge(x2, f32x4.splat(-231)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-187)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-148)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-114)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-84)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-57)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-32)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(-9)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(14)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(38)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(63)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(91)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(122)));
  c = i32x4.sub(c, f32x4.ge(x2, f32x4.splat(158)));
  return i32x4.sub(c, f32x4.ge(x2, f32x4.splat(202)));
}

/** values[idx] as floats for 4 lanes of indices 0..15. */
// @ts-ignore: decorator
@inline function valuesV(idx: v128): v128 {
  const b = i8x16.shuffle(idx, idx, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
  const v = i8x16.swizzle(v128.load(VALUES_I8), b);
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v)));
}

/** 16 nibble bytes of one 32-block: best_index(id * x) for x at xb, low half | high half << 4. */
// @ts-ignore: decorator
@inline function storeNibbles(xb: usize, q: usize, id: f32): void {
  const s = f32x4.splat(id);
  const p0 = v128.or(bestIndexV(f32x4.mul(s, v128.load(xb))), i32x4.shl(bestIndexV(f32x4.mul(s, v128.load(xb, 64))), 4));
  const p1 = v128.or(bestIndexV(f32x4.mul(s, v128.load(xb, 16))), i32x4.shl(bestIndexV(f32x4.mul(s, v128.load(xb, 80))), 4));
  const p2 = v128.or(bestIndexV(f32x4.mul(s, v128.load(xb, 32))), i32x4.shl(bestIndexV(f32x4.mul(s, v128.load(xb, 96))), 4));
  const p3 = v128.or(bestIndexV(f32x4.mul(s, v128.load(xb, 48))), i32x4.shl(bestIndexV(f32x4.mul(s, v128.load(xb, 112))), 4));
  v128.store(q, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(p0, p1), i16x8.narrow_i32x4_u(p2, p3)));
}

const SUMS: usize = memory.data(32 * 4, 16);

/**
 * The scale search of one 32-block with |max| >= GROUP_MAX_EPS: the first fit
 * (id = 1/d, d = -max/values[0]) and the 15 trials id = (itry + values[0])/max,
 * itry = -7..7, run side by side in 16 SIMD lanes; each lane sums over
 * j = 0..31 in C's order. The winner is then picked in C's order of trials.
 */
function blockScale(xb: usize, max: f32): f32 {
  const d0: f32 = -max / value(0);
  const mx = f32x4.splat(max);
  // (itry + values[0]) is an int, converted once: itry - 127
  const i0 = f32x4.replace_lane(f32x4.div(f32x4(-134, -134, -133, -132), mx), 0, <f32>1 / d0);
  const i1 = f32x4.div(f32x4(-131, -130, -129, -128), mx);
  const i2 = f32x4.div(f32x4(-127, -126, -125, -124), mx);
  const i3 = f32x4.div(f32x4(-123, -122, -121, -120), mx);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0; // sumqx
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0; // sumq2
  for (let j = 0; j < 32; j++) {
    const xs = f32x4.splat(ldf(xb, j));
    const ws = f32x4.splat(ldf(WEIGHT, j));
    let q = valuesV(bestIndexV(f32x4.mul(i0, xs)));
    let wq = f32x4.mul(ws, q);
    a0 = f32x4.add(a0, f32x4.mul(wq, xs));
    b0 = f32x4.add(b0, f32x4.mul(wq, q));
    q = valuesV(bestIndexV(f32x4.mul(i1, xs)));
    wq = f32x4.mul(ws, q);
    a1 = f32x4.add(a1, f32x4.mul(wq, xs));
    b1 = f32x4.add(b1, f32x4.mul(wq, q));
    q = valuesV(bestIndexV(f32x4.mul(i2, xs)));
    wq = f32x4.mul(ws, q);
    a2 = f32x4.add(a2, f32x4.mul(wq, xs));
    b2 = f32x4.add(b2, f32x4.mul(wq, q));
    q = valuesV(bestIndexV(f32x4.mul(i3, xs)));
    wq = f32x4.mul(ws, q);
    a3 = f32x4.add(a3, f32x4.mul(wq, xs));
    b3 = f32x4.add(b3, f32x4.mul(wq, q));
  }
  v128.store(SUMS, a0);
  v128.store(SUMS, a1, 16);
  v128.store(SUMS, a2, 32);
  v128.store(SUMS, a3, 48);
  v128.store(SUMS, b0, 64);
  v128.store(SUMS, b1, 80);
  v128.store(SUMS, b2, 96);
  v128.store(SUMS, b3, 112);
  let sumqx = load<f32>(SUMS);
  let sumq2 = load<f32>(SUMS, 64);
  let d: f32 = sumq2 > 0 ? sumqx / sumq2 : <f32>0;
  let best: f32 = d * sumqx;
  for (let t = 1; t < 16; t++) {
    sumqx = load<f32>(SUMS + (<usize>t << 2));
    sumq2 = load<f32>(SUMS + (<usize>(t + 16) << 2));
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

/**
 * quantize_row_iq4_nl_impl(super, 32, 16, ..., ntry = 7) for one super-block
 * of `sb` floats at x (32 or 256). qw: weights of this super-block or 0.
 * Writes d (fp16) at dh, scales at scalesH/scalesL (sb = 256), nibbles at q4.
 */
function iq4Superblock(sb: i32, x: usize, dh: usize, q4: usize, scalesH: usize, scalesL: usize, qw: usize): void {
  let sigma2: f32 = 0;
  for (let j = 0; j < sb; j++) {
    const v = ldf(x, j);
    sigma2 += v * v;
  }
  sigma2 *= <f32>2 / <f32>sb;

  let maxScale: f32 = 0;
  let amaxScale: f32 = 0;
  const nblk = sb >> 5;
  const s2 = f32x4.splat(sigma2);
  for (let ib = 0; ib < nblk; ib++) {
    const xb = x + (<usize>ib << 7);
    // weights, element-wise
    for (let j: usize = 0; j < 128; j += 16) {
      const v = v128.load(xb + j);
      const w = qw ? f32x4.mul(v128.load(qw + (<usize>ib << 7) + j), f32x4.sqrt(f32x4.add(s2, f32x4.mul(v, v)))) : f32x4.mul(v, v);
      v128.store(WEIGHT + j, w);
    }
    // C: if (ax > amax) { amax = ax; max = xb[j]; } -- the first largest |x|
    const amaxBits = blockAbsMaxBits(xb);
    let d: f32 = 0;
    if (reinterpret<f32>(amaxBits) >= GROUP_MAX_EPS) d = blockScale(xb, blockSignedMax(xb, amaxBits));
    store<f32>(SCALES + (<usize>ib << 2), d);
    const absD = Mathf.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }

  if (nblk > 1) {
    let sh: u32 = 0;
    const d: f32 = -maxScale / <f32>32;
    store<u16>(dh, fp32ToFp16(d));
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    for (let ib = 0; ib < nblk; ib++) {
      let l = nearestInt(id * ldf(SCALES, ib));
      l = l > 31 ? 31 : l;
      l = l < -32 ? -32 : l;
      const dl: f32 = d * <f32>l;
      const idl: f32 = dl != 0 ? <f32>1 / dl : 0;
      storeNibbles(x + (<usize>ib << 7), q4 + (<usize>ib << 4), idl);
      l += 32;
      const sl = scalesL + (<usize>ib >> 1);
      if ((ib & 1) == 0) store<u8>(sl, <u8>(l & 0xf));
      else store<u8>(sl, <u8>(load<u8>(sl) | ((l & 0xf) << 4)));
      sh |= <u32>(l >> 4) << (2 * ib);
    }
    store<u16>(scalesH, <u16>sh);
  } else {
    const s = ldf(SCALES, 0);
    store<u16>(dh, fp32ToFp16(s));
    storeNibbles(x, q4, s != 0 ? <f32>1 / s : 0);
  }
}

export function quantize_iq4_nl(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nblock = ncols >> 5;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const y = dst + (<usize>(r * nblock + ibl)) * 18;
      const x = src + ((<usize>(r * ncols + (ibl << 5))) << 2);
      iq4Superblock(32, x, y, y + 2, 0, 0, qw ? qw + (<usize>ibl << 7) : 0);
    }
  }
  return UNCHECKED;
}

export function quantize_iq4_xs(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const y = dst + (<usize>(r * nblock + ibl)) * 136;
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq4Superblock(256, x, y, y + 8, y + 2, y + 4, qw ? qw + (<usize>ibl << 10) : 0);
    }
  }
  return UNCHECKED;
}

export function dequantize_iq4_nl(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    for (let j = 0; j < 16; j++) {
      const q = load<u8>(src + 2 + j);
      store<f32>(dst + (<usize>j << 2), d * value(q & 0xf));
      store<f32>(dst + (<usize>(j + 16) << 2), d * value(q >> 4));
    }
    src += 18;
    dst += 128;
  }
}

export function dequantize_iq4_xs(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    const scalesH = <i32>load<u16>(src, 2);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((<i32>load<u8>(src + 4 + (ib >> 1)) >> (4 * (ib & 1))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl: f32 = d * <f32>(ls - 32);
      const qs = src + 8 + (<usize>ib << 4);
      for (let j = 0; j < 16; j++) {
        const q = load<u8>(qs + j);
        store<f32>(dst + (<usize>j << 2), dl * value(q & 0xf));
        store<f32>(dst + (<usize>(j + 16) << 2), dl * value(q >> 4));
      }
      dst += 128;
    }
    src += 136;
  }
}
