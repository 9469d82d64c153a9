// Q4_K and Q5_K: 8 sub-blocks of 32 with a 6-bit scale and 6-bit min each,
// relative to fp16 d and dmin. Quantize = llama.cpp's quantize_row_q{4,5}_K_ref
// (no imatrix: make_qkx2_quants, weights av_x + |x|, then the scales rounded
// against their maximum) or quantize_row_q{4,5}_K_impl (imatrix: make_qkx3_quants
// with weights qw*sqrt(sigma2 + x^2), sigma2 = 2*sum(x^2)/256, then
// make_qp_quants for the scales and mins). The 32-wide searches run on 4
// sub-blocks per SIMD vector (kquants_search.ts); the rest is small scalar code.
import { UNCHECKED } from "./legacy_check";
import { fp16ToFp32, fp32ToFp16, nearestInt } from "./common";
import { makeQpQuants, min_i } from "./kutil";
import { qkxSearch8 } from "./kquants_search";
import {
  emit16, imatrixWeights, keepSearchLevels, LAUX, OUT, LB, LM, LS, LT, MN, QWT, requantAsym, SC, sumSquares256, sumWeights,
  SW, transpose, WT, XT,
} from "./kquants_simd";
import { scaleMinK4 } from "./kquants_ref";

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function ldu8(p: usize, i: i32): i32 { return <i32>load<u8>(p + <usize>i); }

/** The 12 packed bytes of 8 six-bit scales (LS) and mins (LM) at q (C's j<4 / j>=4 layout). */
function packScales(q: usize): void {
  for (let j = 0; j < 4; ++j) {
    const ls = ldu8(LS, j + 4), lm = ldu8(LM, j + 4);
    store<u8>(q + <usize>j, <u8>(ldu8(LS, j) | ((ls >> 4) << 6)));
    store<u8>(q + <usize>(j + 4), <u8>(ldu8(LM, j) | ((lm >> 4) << 6)));
    store<u8>(q + <usize>(j + 8), <u8>((ls & 0xf) | ((lm & 0xf) << 4)));
  }
}

/** Searches of the 8 sub-blocks -> SC (scales), MN (mins); LT keeps the searched levels. */
function search8(x: usize, qw: usize, nmax: i32, rmin: f32, nstep: i32): void {
  transpose(x, 32, XT);
  if (qw) {
    transpose(qw, 32, QWT);
    const sigma2: f32 = <f32>2 * sumSquares256(x) / <f32>256;
    for (let g = 0; g < 2; ++g) {
      const o = <usize>(g * 512);
      imatrixWeights(XT + o, QWT + o, WT + o, 32, sigma2);
      sumWeights(WT + o, 32, g);
    }
    qkxSearch8(32, nmax, XT, WT, LT, LAUX, OUT, -0.9, 0.05, 36, false, true);
  } else {
    for (let g = 0; g < 2; ++g) {
      const o = <usize>(g * 512);
      // av_x = sqrtf(sum_x2/32); weights = av_x + |x|, per sub-block (lane)
      let s = f32x4.splat(0);
      for (let i = 0; i < 32; ++i) {
        const xi = v128.load(XT + o + (<usize>i << 4));
        s = f32x4.add(s, f32x4.mul(xi, xi));
      }
      const av = f32x4.sqrt(f32x4.div(s, f32x4.splat(32)));
      for (let i = 0; i < 32; ++i) {
        const p = <usize>i << 4;
        v128.store(WT + o + p, f32x4.add(av, f32x4.abs(v128.load(XT + o + p))));
      }
    }
    qkxSearch8(32, nmax, XT, WT, LT, LAUX, OUT, rmin, 0.1, nstep, false, false);
  }
  memory.copy(SC, OUT, 32);
  memory.copy(MN, OUT + 32, 32);
}

/** Quantizes one super-block (x: 256 f32) into y: d, dmin, scales[12] and the levels in LB. */
function quantizeK45(x: usize, y: usize, qw: usize, nmax: i32, rmin: f32, nstep: i32): void {
  search8(x, qw, nmax, rmin, nstep);
  if (qw) {
    const dBlock = makeQpQuants(8, 63, SC, LS, SW);
    const mBlock = makeQpQuants(8, 63, MN, LM, SW);
    if (nmax == 31) { // Q5_K clamps to 63 here; Q4_K does not
      for (let j = 0; j < 8; ++j) {
        store<u8>(LS + <usize>j, <u8>min_i(63, ldu8(LS, j)));
        store<u8>(LM + <usize>j, <u8>min_i(63, ldu8(LM, j)));
      }
    }
    store<u16>(y, fp32ToFp16(dBlock));
    store<u16>(y + 2, fp32ToFp16(mBlock));
  } else {
    let maxScale: f32 = 0, maxMin: f32 = 0;
    for (let j = 0; j < 8; ++j) {
      const s = ldf(SC, j);
      if (s > maxScale) maxScale = s;
      const m = ldf(MN, j);
      if (m > maxMin) maxMin = m;
    }
    const invScale: f32 = maxScale > 0 ? <f32>63 / maxScale : <f32>0;
    const invMin: f32 = maxMin > 0 ? <f32>63 / maxMin : <f32>0;
    for (let j = 0; j < 8; ++j) {
      store<u8>(LS + <usize>j, <u8>min_i(63, nearestInt(invScale * ldf(SC, j)) & 0xff));
      store<u8>(LM + <usize>j, <u8>min_i(63, nearestInt(invMin * ldf(MN, j)) & 0xff));
    }
    store<u16>(y, fp32ToFp16(maxScale / <f32>63));
    store<u16>(y + 2, fp32ToFp16(maxMin / <f32>63));
  }
  packScales(y + 4);
  const dAll = fp16ToFp32(load<u16>(y));
  const mAll = fp16ToFp32(load<u16>(y + 2));
  for (let j = 0; j < 8; ++j) {
    const sm = scaleMinK4(j, y + 4);
    const d: f32 = dAll * <f32>(sm & 0xff);
    if (d == 0) {
      keepSearchLevels(j, 32);
      continue;
    }
    requantAsym(x, j, 32, d, mAll * <f32>(sm >> 8), nmax);
  }
}

/** Q4_K: qs[32*c + l] = L[64c + l] | L[64c + 32 + l] << 4. */
function packQ4(y: usize): void {
  for (let c = 0; c < 4; ++c) {
    const s = LB + <usize>(64 * c);
    const q = y + 16 + <usize>(32 * c);
    v128.store(q, v128.or(v128.load(s), i8x16.shl(v128.load(s, 32), 4)));
    v128.store(q, v128.or(v128.load(s, 16), i8x16.shl(v128.load(s, 48), 4)), 16);
  }
}

/** Q5_K: low nibbles as in Q4_K (qs at y+48), bit 4 of L[64c + l] / L[64c + 32 + l] into qh[l] bits 2c / 2c+1. */
function packQ5(y: usize): void {
  const lo = i8x16.splat(0x0f);
  let h0 = i8x16.splat(0), h1 = i8x16.splat(0);
  for (let c = 0; c < 4; ++c) {
    const s = LB + <usize>(64 * c);
    const q = y + 48 + <usize>(32 * c);
    const a0 = v128.load(s), a1 = v128.load(s, 16), b0 = v128.load(s, 32), b1 = v128.load(s, 48);
    v128.store(q, v128.or(v128.and(a0, lo), i8x16.shl(v128.and(b0, lo), 4)));
    v128.store(q, v128.or(v128.and(a1, lo), i8x16.shl(v128.and(b1, lo), 4)), 16);
    h0 = v128.or(h0, v128.or(i8x16.shl(i8x16.shr_u(a0, 4), 2 * c), i8x16.shl(i8x16.shr_u(b0, 4), 2 * c + 1)));
    h1 = v128.or(h1, v128.or(i8x16.shl(i8x16.shr_u(a1, 4), 2 * c), i8x16.shl(i8x16.shr_u(b1, 4), 2 * c + 1)));
  }
  v128.store(y + 16, h0);
  v128.store(y + 32, h1);
}

/** Q4_K quantizer: rows x cols f32 at src -> blocks at dst; imatrix (cols f32) or 0. Returns UNCHECKED. */
export function quantize_q4_k(src: usize, dst: usize, rows: i32, cols: i32, imatrix: usize): i32 {
  const nb = cols >> 8;
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < nb; ++i) {
      const x = src + ((<usize>r * <usize>cols + (<usize>i << 8)) << 2);
      const y = dst + (<usize>r * <usize>nb + <usize>i) * 144;
      quantizeK45(x, y, imatrix ? imatrix + (<usize>i << 10) : 0, 15, -1, 20);
      packQ4(y);
    }
  }
  return UNCHECKED; // NaN/Inf screening is left to the caller (kernelCodec)
}

/** Q5_K quantizer: as q4KQuantize. */
export function quantize_q5_k(src: usize, dst: usize, rows: i32, cols: i32, imatrix: usize): i32 {
  const nb = cols >> 8;
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < nb; ++i) {
      const x = src + ((<usize>r * <usize>cols + (<usize>i << 8)) << 2);
      const y = dst + (<usize>r * <usize>nb + <usize>i) * 176;
      quantizeK45(x, y, imatrix ? imatrix + (<usize>i << 10) : 0, 31, -0.5, 15);
      packQ5(y);
    }
  }
  return UNCHECKED; // NaN/Inf screening is left to the caller (kernelCodec)
}

// ---------------------------------------------------------------- dequantize

/** 64 values of chunk c: 32 low nibbles with (d1, m1), 32 high nibbles with (d2, m2); Q5_K adds the qh bits. */
// @ts-ignore: decorator
@inline function chunk64(y: usize, ql: usize, qh0: v128, qh1: v128, c: i32, d1: v128, m1: v128, d2: v128, m2: v128, five: bool): void {
  const lo = i8x16.splat(0x0f);
  const v0 = v128.load(ql), v1 = v128.load(ql, 16);
  let a0 = v128.and(v0, lo), a1 = v128.and(v1, lo);
  let b0 = i8x16.shr_u(v0, 4), b1 = i8x16.shr_u(v1, 4);
  if (five) {
    const one = i8x16.splat(1);
    a0 = v128.or(a0, i8x16.shl(v128.and(i8x16.shr_u(qh0, 2 * c), one), 4));
    a1 = v128.or(a1, i8x16.shl(v128.and(i8x16.shr_u(qh1, 2 * c), one), 4));
    b0 = v128.or(b0, i8x16.shl(v128.and(i8x16.shr_u(qh0, 2 * c + 1), one), 4));
    b1 = v128.or(b1, i8x16.shl(v128.and(i8x16.shr_u(qh1, 2 * c + 1), one), 4));
  }
  emit16(y, a0, 0, d1, m1, true);
  emit16(y + 64, a1, 0, d1, m1, true);
  emit16(y + 128, b0, 0, d2, m2, true);
  emit16(y + 192, b1, 0, d2, m2, true);
}

/**
 * dequantize_row_q4_K / q5_K: y = d*sc * q - dmin*m per 32 values (Q5_K adds
 * 16 where the qh bit is set). The eight 6-bit scales and mins are unpacked
 * with byte swizzles (get_scale_min_k4 for all j at once) and d*sc, dmin*m
 * computed four at a time: the same products as the scalar code.
 */
function dequantK45(src: usize, dst: usize, nblocks: i32, five: bool): void {
  const ts: usize = five ? 176 : 144;
  const swSc = i8x16(0, 1, 2, 3, 8, 9, 10, 11, -1, -1, -1, -1, -1, -1, -1, -1);
  const maskSc = i8x16(63, 63, 63, 63, 15, 15, 15, 15, 0, 0, 0, 0, 0, 0, 0, 0);
  const swHiSc = i8x16(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1);
  const swM = i8x16(4, 5, 6, 7, 8, 9, 10, 11, -1, -1, -1, -1, -1, -1, -1, -1);
  const swHiM = i8x16(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const lanes47 = i8x16(0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0);
  const m63 = i8x16.splat(63);
  let y = dst;
  for (let i = 0; i < nblocks; ++i) {
    const b = src + <usize>i * ts;
    const d = f32x4.splat(fp16ToFp32(load<u16>(b)));
    const min = f32x4.splat(fp16ToFp32(load<u16>(b + 2)));
    const q = v128.load(b + 4); // scales[12] and 4 bytes we ignore
    const sc = v128.or(v128.and(i8x16.swizzle(q, swSc), maskSc), i8x16.shl(i8x16.shr_u(i8x16.swizzle(q, swHiSc), 6), 4));
    const t = i8x16.swizzle(q, swM);
    const mm = v128.or(v128.bitselect(i8x16.shr_u(t, 4), v128.and(t, m63), lanes47),
      i8x16.shl(i8x16.shr_u(i8x16.swizzle(q, swHiM), 6), 4));
    const sw = i16x8.extend_low_i8x16_u(sc);
    const mw = i16x8.extend_low_i8x16_u(mm);
    const ds0 = f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(sw)));
    const ds1 = f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(sw)));
    const dm0 = f32x4.mul(min, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(mw)));
    const dm1 = f32x4.mul(min, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(mw)));
    const qh0 = v128.load(b + 16), qh1 = v128.load(b + 32);
    const ql = b + (five ? 48 : 16);
    chunk64(y, ql, qh0, qh1, 0,
      v128.shuffle<f32>(ds0, ds0, 0, 0, 0, 0), v128.shuffle<f32>(dm0, dm0, 0, 0, 0, 0),
      v128.shuffle<f32>(ds0, ds0, 1, 1, 1, 1), v128.shuffle<f32>(dm0, dm0, 1, 1, 1, 1), five);
    chunk64(y + 256, ql + 32, qh0, qh1, 1,
      v128.shuffle<f32>(ds0, ds0, 2, 2, 2, 2), v128.shuffle<f32>(dm0, dm0, 2, 2, 2, 2),
      v128.shuffle<f32>(ds0, ds0, 3, 3, 3, 3), v128.shuffle<f32>(dm0, dm0, 3, 3, 3, 3), five);
    chunk64(y + 512, ql + 64, qh0, qh1, 2,
      v128.shuffle<f32>(ds1, ds1, 0, 0, 0, 0), v128.shuffle<f32>(dm1, dm1, 0, 0, 0, 0),
      v128.shuffle<f32>(ds1, ds1, 1, 1, 1, 1), v128.shuffle<f32>(dm1, dm1, 1, 1, 1, 1), five);
    chunk64(y + 768, ql + 96, qh0, qh1, 3,
      v128.shuffle<f32>(ds1, ds1, 2, 2, 2, 2), v128.shuffle<f32>(dm1, dm1, 2, 2, 2, 2),
      v128.shuffle<f32>(ds1, ds1, 3, 3, 3, 3), v128.shuffle<f32>(dm1, dm1, 3, 3, 3, 3), five);
    y += 1024;
  }
}

export function dequantize_q4_k(src: usize, dst: usize, n: i32): void { dequantK45(src, dst, n >> 8, false); }
export function dequantize_q5_k(src: usize, dst: usize, n: i32): void { dequantK45(src, dst, n >> 8, true); }
