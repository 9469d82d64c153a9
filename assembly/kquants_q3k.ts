// Q3_K: 16 sub-blocks of 16 with 3-bit levels (2 low bits in qs, the high
// bit in hmask) and signed 6-bit scales relative to fp16 d. Quantize =
// llama.cpp's quantize_row_q3_K_ref (no imatrix: make_q3_quants, an x^2
// weighted coordinate descent, then scales rounded against the largest
// |scale|) or quantize_row_q3_K_impl (imatrix: make_qx_quants with weights
// qw*sqrt(sigma2 + x^2), sigma2 = 2*sum(x^2)/256, then make_qx_quants again
// for the 16 scales, weighted by the sub-block weight sums).
import { UNCHECKED } from "./legacy_check";
import { fp16ToFp32, fp32ToFp16, nearestInt } from "./common";
import { makeQxQuants, max_i, min_i } from "./kutil";
import { q3Search4, qxSearch8 } from "./kquants_search";
import {
  emit16, imatrixWeights, keepSearchLevels, LAUX, LB, LS, LT, QWT, requantSym16, SC, sumSquares256, sumWeights, SW,
  transpose, WT, XT,
} from "./kquants_simd";
import { scaleQ3K } from "./kquants_ref";

/** Adds 6-bit scale l (0..63) of sub-block j to the 12 packed bytes at q (zeroed first). */
// @ts-ignore: decorator
@inline function putScale(q: usize, j: i32, l: i32): void {
  if (j < 8) store<u8>(q + <usize>j, <u8>(l & 0xf));
  else store<u8>(q + <usize>(j - 8), <u8>(<i32>load<u8>(q + <usize>(j - 8)) | ((l & 0xf) << 4)));
  const p = q + <usize>(j % 4 + 8);
  store<u8>(p, <u8>(<i32>load<u8>(p) | ((l >> 4) << (2 * (j / 4)))));
}

function quantizeQ3(x: usize, y: usize, qw: usize): void {
  transpose(x, 16, XT);
  const sc = y + 96;
  v128.store(sc - 4, i8x16.splat(0)); // zero scales[0..11] (the 4 bytes before are qs, rewritten below)
  if (qw) {
    transpose(qw, 16, QWT);
    const sigma2: f32 = <f32>2 * sumSquares256(x) / <f32>256;
    for (let g = 0; g < 4; ++g) {
      const o = <usize>(g * 256);
      imatrixWeights(XT + o, QWT + o, WT + o, 16, sigma2);
      sumWeights(WT + o, 16, g);
    }
    qxSearch8(16, 4, XT, WT, LT, LAUX, SC);
    qxSearch8(16, 4, XT + 512, WT + 512, LT + 512, LAUX, SC + 32);
    const dBlock = makeQxQuants(16, 32, SC, LS, 1, SW);
    for (let j = 0; j < 16; ++j) putScale(sc, j, <i32>load<i8>(LS + <usize>j));
    store<u16>(y + 108, fp32ToFp16(dBlock));
  } else {
    for (let g = 0; g < 4; ++g) q3Search4(16, 4, XT + <usize>(g * 256), LT + <usize>(g * 256), SC + 16 * g);
    let maxScale: f32 = 0, amax: f32 = 0;
    for (let j = 0; j < 16; ++j) {
      const s = load<f32>(SC + (<usize>j << 2));
      const a = Mathf.abs(s);
      if (a > amax) { amax = a; maxScale = s; }
    }
    if (maxScale != 0) {
      const iscale: f32 = <f32>-32 / maxScale;
      for (let j = 0; j < 16; ++j) {
        const l = <i32><i8>nearestInt(iscale * load<f32>(SC + (<usize>j << 2)));
        putScale(sc, j, <i32><i8>(max_i(-32, min_i(31, l)) + 32));
      }
      store<u16>(y + 108, fp32ToFp16(<f32>1 / iscale));
    } else {
      store<u16>(y + 108, fp32ToFp16(0));
    }
  }
  const dAll = fp16ToFp32(load<u16>(y + 108));
  for (let j = 0; j < 16; ++j) {
    const d: f32 = dAll * <f32>scaleQ3K(sc, j);
    if (d == 0) {
      keepSearchLevels(j, 16);
      continue;
    }
    requantSym16(x, j, d, -4, 3);
  }
  // hmask[m] bit b = L[32b + m] > 3; qs as Q2_K with the low 2 bits
  const one = i8x16.splat(1), three = i8x16.splat(3);
  for (let k = 0; k < 2; ++k) {
    let h = i8x16.splat(0);
    for (let b = 0; b < 8; ++b) {
      h = v128.or(h, i8x16.shl(v128.and(i8x16.shr_u(v128.load(LB + <usize>(32 * b + 16 * k)), 2), one), b));
    }
    v128.store(y + <usize>(16 * k), h);
  }
  for (let hh = 0; hh < 2; ++hh) {
    for (let k = 0; k < 2; ++k) {
      const s = LB + <usize>(128 * hh + 16 * k);
      const v = v128.or(v128.or(v128.and(v128.load(s), three), i8x16.shl(v128.and(v128.load(s, 32), three), 2)),
        v128.or(i8x16.shl(v128.and(v128.load(s, 64), three), 4), i8x16.shl(v128.load(s, 96), 6)));
      v128.store(y + 32 + <usize>(32 * hh + 16 * k), v);
    }
  }
}

/** Q3_K quantizer: rows x cols f32 at src -> blocks at dst; imatrix (cols f32) or 0. Returns UNCHECKED. */
export function quantize_q3_k(src: usize, dst: usize, rows: i32, cols: i32, imatrix: usize): i32 {
  const nb = cols >> 8;
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < nb; ++i) {
      const x = src + ((<usize>r * <usize>cols + (<usize>i << 8)) << 2);
      quantizeQ3(x, dst + (<usize>r * <usize>nb + <usize>i) * 110, imatrix ? imatrix + (<usize>i << 10) : 0);
    }
  }
  return UNCHECKED; // NaN/Inf screening is left to the caller (kernelCodec)
}

/** dequantize_row_q3_K: y = d*(scale - 32) * (q - (hmask bit ? 0 : 4)) per 16 values. */
export function dequantize_q3_k(src: usize, dst: usize, n: i32): void {
  const nblocks = n >> 8;
  const one = i8x16.splat(1), three = i8x16.splat(3);
  let y = dst;
  for (let i = 0; i < nblocks; ++i) {
    const b = src + <usize>i * 110;
    const dAll = fp16ToFp32(load<u16>(b + 108));
    const hm0 = v128.load(b), hm1 = v128.load(b + 16);
    const zero = f32x4.splat(0);
    let bit = 0;
    let is = 0;
    for (let h = 0; h < 2; ++h) {
      const q0 = v128.load(b + 32 + <usize>(32 * h)), q1 = v128.load(b + 48 + <usize>(32 * h));
      for (let j = 0; j < 4; ++j) {
        const u0 = v128.or(v128.and(i8x16.shr_u(q0, 2 * j), three), i8x16.shl(v128.and(i8x16.shr_u(hm0, bit), one), 2));
        const u1 = v128.or(v128.and(i8x16.shr_u(q1, 2 * j), three), i8x16.shl(v128.and(i8x16.shr_u(hm1, bit), one), 2));
        emit16(y, u0, 4, f32x4.splat(dAll * <f32>scaleQ3K(b + 96, is)), zero, false);
        emit16(y + 64, u1, 4, f32x4.splat(dAll * <f32>scaleQ3K(b + 96, is + 1)), zero, false);
        is += 2;
        bit++;
        y += 128;
      }
    }
  }
}
