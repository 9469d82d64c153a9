// Q6_K: 16 sub-blocks of 16 with 6-bit levels (4 low bits in ql, 2 high bits
// in qh) and signed 8-bit scales relative to fp16 d. Quantize = llama.cpp's
// quantize_row_q6_K_ref / _impl: make_qx_quants (nmax 32) per sub-block with
// weights x^2, or with an imatrix the imatrix values themselves (no sigma2
// term for Q6_K), then the scales rounded against the largest |scale|.
import { UNCHECKED } from "./legacy_check";
import { fp16ToFp32, fp32ToFp16, nearestInt } from "./common";
import { GROUP_MAX_EPS, min_i } from "./kutil";
import { qxSearch8 } from "./kquants_search";
import { emit16, keepSearchLevels, LAUX, LB, LT, requantSym16, SC, transpose, WT, XT } from "./kquants_simd";

function quantizeQ6(x: usize, y: usize, qw: usize): void {
  transpose(x, 16, XT);
  if (qw) {
    transpose(qw, 16, WT);
  } else {
    for (let i = 0; i < 64; ++i) {
      const p = <usize>i << 4;
      const xi = v128.load(XT + p);
      v128.store(WT + p, f32x4.mul(xi, xi));
    }
  }
  qxSearch8(16, 32, XT, WT, LT, LAUX, SC);
  qxSearch8(16, 32, XT + 512, WT + 512, LT + 512, LAUX, SC + 32);
  let maxScale: f32 = 0, maxAbs: f32 = 0;
  for (let j = 0; j < 16; ++j) {
    const s = load<f32>(SC + (<usize>j << 2));
    const a = Mathf.abs(s);
    if (a > maxAbs) { maxAbs = a; maxScale = s; }
  }
  if (maxAbs < GROUP_MAX_EPS) {
    memory.fill(y, 0, 210);
    store<u16>(y + 208, fp32ToFp16(0));
    return;
  }
  const iscale: f32 = <f32>-128 / maxScale;
  store<u16>(y + 208, fp32ToFp16(<f32>1 / iscale));
  const sc = y + 192;
  for (let j = 0; j < 16; ++j) {
    store<i8>(sc + <usize>j, <i8>min_i(127, nearestInt(iscale * load<f32>(SC + (<usize>j << 2)))));
  }
  const dAll = fp16ToFp32(load<u16>(y + 208));
  for (let j = 0; j < 16; ++j) {
    const d: f32 = dAll * <f32>load<i8>(sc + <usize>j);
    if (d == 0) {
      keepSearchLevels(j, 16);
      continue;
    }
    requantSym16(x, j, d, -32, 31);
  }
  const lo = i8x16.splat(0x0f);
  for (let h = 0; h < 2; ++h) {
    for (let k = 0; k < 2; ++k) {
      const s = LB + <usize>(128 * h + 16 * k);
      const a = v128.load(s), b = v128.load(s, 32), c = v128.load(s, 64), e = v128.load(s, 96);
      const ql = y + <usize>(64 * h + 16 * k);
      v128.store(ql, v128.or(v128.and(a, lo), i8x16.shl(c, 4)));
      v128.store(ql, v128.or(v128.and(b, lo), i8x16.shl(e, 4)), 32);
      const qh = v128.or(v128.or(i8x16.shr_u(a, 4), i8x16.shl(i8x16.shr_u(b, 4), 2)),
        v128.or(i8x16.shl(i8x16.shr_u(c, 4), 4), i8x16.shl(i8x16.shr_u(e, 4), 6)));
      v128.store(y + 128 + <usize>(32 * h + 16 * k), qh);
    }
  }
}

/** Q6_K quantizer: rows x cols f32 at src -> blocks at dst; imatrix (cols f32) or 0. Returns UNCHECKED. */
export function quantize_q6_k(src: usize, dst: usize, rows: i32, cols: i32, imatrix: usize): i32 {
  const nb = cols >> 8;
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < nb; ++i) {
      const x = src + ((<usize>r * <usize>cols + (<usize>i << 8)) << 2);
      quantizeQ6(x, dst + (<usize>r * <usize>nb + <usize>i) * 210, imatrix ? imatrix + (<usize>i << 10) : 0);
    }
  }
  return UNCHECKED; // NaN/Inf screening is left to the caller (kernelCodec)
}

/** dequantize_row_q6_K: y = (d * scale) * (q - 32) per 16 values. */
export function dequantize_q6_k(src: usize, dst: usize, n: i32): void {
  const nblocks = n >> 8;
  const lo = i8x16.splat(0x0f), three = i8x16.splat(3);
  const zero = f32x4.splat(0);
  let y = dst;
  for (let i = 0; i < nblocks; ++i) {
    const b = src + <usize>i * 210;
    const d = fp16ToFp32(load<u16>(b + 208));
    for (let h = 0; h < 2; ++h) {
      const ql = b + <usize>(64 * h), qh = b + 128 + <usize>(32 * h), sc = b + 192 + <usize>(8 * h);
      for (let k = 0; k < 2; ++k) {
        const l0 = v128.load(ql + <usize>(16 * k)), l1 = v128.load(ql + <usize>(32 + 16 * k));
        const hh = v128.load(qh + <usize>(16 * k));
        const q1 = v128.or(v128.and(l0, lo), i8x16.shl(v128.and(hh, three), 4));
        const q2 = v128.or(v128.and(l1, lo), i8x16.shl(v128.and(i8x16.shr_u(hh, 2), three), 4));
        const q3 = v128.or(i8x16.shr_u(l0, 4), i8x16.shl(v128.and(i8x16.shr_u(hh, 4), three), 4));
        const q4 = v128.or(i8x16.shr_u(l1, 4), i8x16.shl(i8x16.shr_u(hh, 6), 4));
        const yy = y + <usize>(64 * k);
        emit16(yy, q1, 32, f32x4.splat(d * <f32>load<i8>(sc + <usize>k)), zero, false);
        emit16(yy + 128, q2, 32, f32x4.splat(d * <f32>load<i8>(sc + <usize>(k + 2))), zero, false);
        emit16(yy + 256, q3, 32, f32x4.splat(d * <f32>load<i8>(sc + <usize>(k + 4))), zero, false);
        emit16(yy + 384, q4, 32, f32x4.splat(d * <f32>load<i8>(sc + <usize>(k + 6))), zero, false);
      }
      y += 512;
    }
  }
}
