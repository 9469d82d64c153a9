// Q2_K: 16 sub-blocks of 16 with 2-bit levels and a 4-bit scale and 4-bit
// min each, relative to fp16 d and dmin. Quantize = llama.cpp's
// quantize_row_q2_K_ref (no imatrix: make_qkx2_quants with weights |x|,
// absolute-error objective) or quantize_row_q2_K_impl (imatrix:
// make_qkx3_quants with weights qw*sqrt(sigma2 + x^2), sigma2 = sum(x^2)/256
// -- no factor 2 here, unlike Q3_K..Q5_K -- then make_qp_quants for scales
// and mins). The searches run 4 sub-blocks per SIMD vector.
import { UNCHECKED } from "./legacy_check";
import { fp16ToFp32, fp32ToFp16, nearestInt } from "./common";
import { makeQpQuants } from "./kutil";
import { qkxSearch8 } from "./kquants_search";
import {
  emit16, imatrixWeights, keepSearchLevels, LAUX, LB, LM, LS, LT, MN, OUT, QWT, requantAsym, SC, sumSquares256,
  sumWeights, SW, transpose, WT, XT,
} from "./kquants_simd";

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }

function quantizeQ2(x: usize, y: usize, qw: usize): void {
  transpose(x, 16, XT);
  if (qw) {
    transpose(qw, 16, QWT);
    const sigma2: f32 = sumSquares256(x) / <f32>256;
    for (let g = 0; g < 4; ++g) {
      const o = <usize>(g * 256);
      imatrixWeights(XT + o, QWT + o, WT + o, 16, sigma2);
      sumWeights(WT + o, 16, g);
    }
    for (let g = 0; g < 4; g += 2) {
      const o = <usize>(g * 256);
      qkxSearch8(16, 3, XT + o, WT + o, LT + o, LAUX, OUT, -0.9, 0.05, 36, false, true);
      memory.copy(SC + 16 * g, OUT, 32);
      memory.copy(MN + 16 * g, OUT + 32, 32);
    }
    const dm = makeQpQuants(16, 15, SC, LS, SW);
    const mm = makeQpQuants(16, 15, MN, LM, SW);
    store<u16>(y + 80, fp32ToFp16(dm));
    store<u16>(y + 82, fp32ToFp16(mm));
    v128.store(y, v128.or(v128.load(LS), i8x16.shl(v128.load(LM), 4)));
  } else {
    for (let g = 0; g < 4; ++g) {
      const o = <usize>(g * 256);
      for (let i = 0; i < 16; ++i) {
        const p = o + (<usize>i << 4);
        v128.store(WT + p, f32x4.abs(v128.load(XT + p)));
      }
    }
    for (let g = 0; g < 4; g += 2) {
      const o = <usize>(g * 256);
      qkxSearch8(16, 3, XT + o, WT + o, LT + o, LAUX, OUT, -0.5, 0.1, 15, true, false);
      memory.copy(SC + 16 * g, OUT, 32);
      memory.copy(MN + 16 * g, OUT + 32, 32);
    }
    let maxScale: f32 = 0, maxMin: f32 = 0;
    for (let j = 0; j < 16; ++j) {
      const s = ldf(SC, j);
      if (s > maxScale) maxScale = s;
      const m = ldf(MN, j);
      if (m > maxMin) maxMin = m;
    }
    const q4scale: f32 = 15;
    if (maxScale > 0) {
      const iscale: f32 = q4scale / maxScale;
      for (let j = 0; j < 16; ++j) store<u8>(y + <usize>j, <u8>nearestInt(iscale * ldf(SC, j)));
      store<u16>(y + 80, fp32ToFp16(maxScale / q4scale));
    } else {
      v128.store(y, i8x16.splat(0));
      store<u16>(y + 80, fp32ToFp16(0));
    }
    if (maxMin > 0) {
      const iscale: f32 = q4scale / maxMin;
      for (let j = 0; j < 16; ++j) {
        store<u8>(y + <usize>j, <u8>(<i32>load<u8>(y + <usize>j) | (nearestInt(iscale * ldf(MN, j)) << 4)));
      }
      store<u16>(y + 82, fp32ToFp16(maxMin / q4scale));
    } else {
      store<u16>(y + 82, fp32ToFp16(0));
    }
  }
  const dAll = fp16ToFp32(load<u16>(y + 80));
  const mAll = fp16ToFp32(load<u16>(y + 82));
  for (let j = 0; j < 16; ++j) {
    const sc = <i32>load<u8>(y + <usize>j);
    const d: f32 = dAll * <f32>(sc & 0xf);
    if (d == 0) {
      keepSearchLevels(j, 16);
      continue;
    }
    requantAsym(x, j, 16, d, mAll * <f32>(sc >> 4), 3);
  }
  // qs[32h + l] = L[128h + l] | L[128h+32+l] << 2 | L[128h+64+l] << 4 | L[128h+96+l] << 6
  for (let h = 0; h < 2; ++h) {
    for (let k = 0; k < 2; ++k) {
      const s = LB + <usize>(128 * h + 16 * k);
      const v = v128.or(v128.or(v128.load(s), i8x16.shl(v128.load(s, 32), 2)),
        v128.or(i8x16.shl(v128.load(s, 64), 4), i8x16.shl(v128.load(s, 96), 6)));
      v128.store(y + 16 + <usize>(32 * h + 16 * k), v);
    }
  }
}

/** Q2_K quantizer: rows x cols f32 at src -> blocks at dst; imatrix (cols f32) or 0. Returns UNCHECKED. */
export function quantize_q2_k(src: usize, dst: usize, rows: i32, cols: i32, imatrix: usize): i32 {
  const nb = cols >> 8;
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < nb; ++i) {
      const x = src + ((<usize>r * <usize>cols + (<usize>i << 8)) << 2);
      quantizeQ2(x, dst + (<usize>r * <usize>nb + <usize>i) * 84, imatrix ? imatrix + (<usize>i << 10) : 0);
    }
  }
  return UNCHECKED; // NaN/Inf screening is left to the caller (kernelCodec)
}

/** dequantize_row_q2_K: y = d*(sc & 15) * q - dmin*(sc >> 4) per 16 values. */
export function dequantize_q2_k(src: usize, dst: usize, n: i32): void {
  const nblocks = n >> 8;
  const three = i8x16.splat(3);
  let y = dst;
  for (let i = 0; i < nblocks; ++i) {
    const b = src + <usize>i * 84;
    const d = fp16ToFp32(load<u16>(b + 80));
    const min = fp16ToFp32(load<u16>(b + 82));
    for (let h = 0; h < 2; ++h) {
      const q0 = v128.load(b + 16 + <usize>(32 * h)), q1 = v128.load(b + 32 + <usize>(32 * h));
      for (let j = 0; j < 4; ++j) {
        const s0 = <i32>load<u8>(b + <usize>(8 * h + 2 * j)), s1 = <i32>load<u8>(b + <usize>(8 * h + 2 * j + 1));
        emit16(y, v128.and(i8x16.shr_u(q0, 2 * j), three), 0,
          f32x4.splat(d * <f32>(s0 & 0xf)), f32x4.splat(min * <f32>(s0 >> 4)), true);
        emit16(y + 64, v128.and(i8x16.shr_u(q1, 2 * j), three), 0,
          f32x4.splat(d * <f32>(s1 & 0xf)), f32x4.splat(min * <f32>(s1 >> 4)), true);
        y += 128;
      }
    }
  }
}
