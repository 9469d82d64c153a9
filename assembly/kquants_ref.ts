// Scalar reference ports of llama.cpp's K-quant quantizers (ggml-quants.c:
// quantize_row_qN_K_ref without an imatrix, quantize_row_qN_K_impl with one)
// and dequantizers, statement for statement. They define the expected bytes;
// the fast SIMD kernels in kquants_*.ts must produce the same, and the tests
// compare the two on random data (the *Ref exports exist for that).
//
// Block layouts (little endian, packed; d/dmin are fp16 bits):
//   Q2_K  84 B: scales[16] qs[64] d dmin
//   Q3_K 110 B: hmask[32] qs[64] scales[12] d
//   Q4_K 144 B: d dmin scales[12] qs[128]
//   Q5_K 176 B: d dmin scales[12] qh[32] qs[128]
//   Q6_K 210 B: ql[128] qh[64] scales[16] (int8) d
import { fp16ToFp32, fp32ToFp16, nearestInt } from "./common";
import {
  GROUP_MAX_EPS, makeQ3Quants, makeQkx2Quants, makeQkx3Quants, makeQpQuants, makeQxQuants, max_i, min_i,
} from "./kutil";

const QK_K = 256;

// Per-call scratch in static memory (the module is single threaded).
const L: usize = memory.data(256);
const Laux: usize = memory.data(32);
const Ls: usize = memory.data(16);
const Lm: usize = memory.data(16);
const weights: usize = memory.data(32 * 4, 16);
const sw: usize = memory.data(16 * 4, 16);
const mins: usize = memory.data(16 * 4, 16);
const scales: usize = memory.data(16 * 4, 16);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }
// @ts-ignore: decorator
@inline function ldu8(p: usize, i: i32): i32 { return <i32>load<u8>(p + <usize>i); }
// @ts-ignore: decorator
@inline function stu8(p: usize, i: i32, v: i32): void { store<u8>(p + <usize>i, <u8>v); }
// @ts-ignore: decorator
@inline function orU8(p: usize, i: i32, v: i32): void { store<u8>(p + <usize>i, <u8>(load<u8>(p + <usize>i) | v)); }
// @ts-ignore: decorator
@inline function half(p: usize): f32 { return fp16ToFp32(load<u16>(p)); }

/** sum of x[j]^2 over a super-block, in order. */
function sumSquares(x: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < n; ++j) { const v = ldf(x, j); s += v * v; }
  return s;
}

/** get_scale_min_k4 for the 12-byte packed 6-bit scales/mins of Q4_K/Q5_K; returns sc | m << 8. */
// @ts-ignore: decorator
@inline export function scaleMinK4(j: i32, q: usize): i32 {
  if (j < 4) return (ldu8(q, j) & 63) | ((ldu8(q, j + 4) & 63) << 8);
  const sc = (ldu8(q, j + 4) & 0xf) | ((ldu8(q, j - 4) >> 6) << 4);
  const m = (ldu8(q, j + 4) >> 4) | ((ldu8(q, j) >> 6) << 4);
  return sc | (m << 8);
}

/** Packs 8 six-bit scale/min pairs (Q4_K/Q5_K) into the 12 bytes at q. */
function packScalesK4(q: usize, lsArr: usize, lmArr: usize): void {
  for (let j = 0; j < 8; ++j) {
    const ls = ldu8(lsArr, j);
    const lm = ldu8(lmArr, j);
    if (j < 4) {
      stu8(q, j, ls);
      stu8(q, j + 4, lm);
    } else {
      stu8(q, j + 4, (ls & 0xf) | ((lm & 0xf) << 4));
      orU8(q, j - 4, (ls >> 4) << 6);
      orU8(q, j, (lm >> 4) << 6);
    }
  }
}

// ---------------------------------------------------------------- Q2_K

/** Requantizes L against the stored d/dmin/scales and packs qs (Q2_K). */
function finishQ2K(x: usize, y: usize): void {
  const dAll = half(y + 80);
  const mAll = half(y + 82);
  for (let j = 0; j < 16; ++j) {
    const sc = ldu8(y, j);
    const d: f32 = dAll * <f32>(sc & 0xf);
    if (d == 0) continue;
    const m: f32 = mAll * <f32>(sc >> 4);
    for (let ii = 0; ii < 16; ++ii) {
      const l = nearestInt((ldf(x, 16 * j + ii) + m) / d);
      stu8(L, 16 * j + ii, max_i(0, min_i(3, l)));
    }
  }
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; ++l) {
      stu8(y + 16, j / 4 + l,
        ldu8(L, j + l) | (ldu8(L, j + l + 32) << 2) | (ldu8(L, j + l + 64) << 4) | (ldu8(L, j + l + 96) << 6));
    }
  }
}

function q2KRefBlock(x: usize, y: usize): void {
  const q4scale: f32 = 15;
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < 16; ++j) {
    for (let l = 0; l < 16; ++l) stf(weights, l, Mathf.abs(ldf(x, 16 * j + l)));
    const s = makeQkx2Quants(16, 3, x + 64 * j, weights, L + 16 * j, mins + 4 * j, Laux, -0.5, 0.1, 15, true);
    stf(scales, j, s);
    if (s > maxScale) maxScale = s;
    const m = ldf(mins, j);
    if (m > maxMin) maxMin = m;
  }
  if (maxScale > 0) {
    const iscale: f32 = q4scale / maxScale;
    for (let j = 0; j < 16; ++j) stu8(y, j, nearestInt(iscale * ldf(scales, j)));
    store<u16>(y + 80, fp32ToFp16(maxScale / q4scale));
  } else {
    for (let j = 0; j < 16; ++j) stu8(y, j, 0);
    store<u16>(y + 80, fp32ToFp16(0));
  }
  if (maxMin > 0) {
    const iscale: f32 = q4scale / maxMin;
    for (let j = 0; j < 16; ++j) orU8(y, j, nearestInt(iscale * ldf(mins, j)) << 4);
    store<u16>(y + 82, fp32ToFp16(maxMin / q4scale));
  } else {
    store<u16>(y + 82, fp32ToFp16(0));
  }
  finishQ2K(x, y);
}

function q2KImplBlock(x: usize, y: usize, qw: usize): void {
  const sigma2: f32 = sumSquares(x, QK_K) / <f32>QK_K;
  for (let j = 0; j < 16; ++j) {
    let s: f32 = 0;
    for (let l = 0; l < 16; ++l) {
      const xv = ldf(x, 16 * j + l);
      const w: f32 = ldf(qw, 16 * j + l) * Mathf.sqrt(sigma2 + xv * xv);
      stf(weights, l, w);
    }
    for (let l = 0; l < 16; ++l) s += ldf(weights, l);
    stf(sw, j, s);
    stf(scales, j, makeQkx3Quants(16, 3, x + 64 * j, weights, L + 16 * j, mins + 4 * j, Laux, -0.9, 0.05, 36, false));
  }
  const dm = makeQpQuants(16, 15, scales, Ls, sw);
  const mm = makeQpQuants(16, 15, mins, Lm, sw);
  store<u16>(y + 80, fp32ToFp16(dm));
  store<u16>(y + 82, fp32ToFp16(mm));
  for (let j = 0; j < 16; ++j) stu8(y, j, ldu8(Ls, j) | (ldu8(Lm, j) << 4));
  finishQ2K(x, y);
}

// ---------------------------------------------------------------- Q3_K

/** Writes the 16 six-bit Q3_K scales (l = 0..63 each, from get(j)) into the 12 bytes at q. */
// @ts-ignore: decorator
@inline function putScaleQ3K(q: usize, j: i32, l: i32): void {
  if (j < 8) stu8(q, j, l & 0xf);
  else orU8(q, j - 8, (l & 0xf) << 4);
  l >>= 4;
  orU8(q, j % 4 + 8, l << (2 * (j / 4)));
}

/** Signed 6-bit scale j of a Q3_K block (scales at q): -32..31. */
// @ts-ignore: decorator
@inline export function scaleQ3K(q: usize, j: i32): i32 {
  let sc = j < 8 ? ldu8(q, j) & 0xf : ldu8(q, j - 8) >> 4;
  sc = <i32><i8>(sc | (((ldu8(q, 8 + j % 4) >> (2 * (j / 4))) & 3) << 4));
  return <i32><i8>(sc - 32);
}

/** Requantizes L (i8 levels + 4) against the stored d/scales, then packs hmask and qs (Q3_K). */
function finishQ3K(x: usize, y: usize): void {
  const dAll = half(y + 108);
  for (let j = 0; j < 16; ++j) {
    const d: f32 = dAll * <f32>scaleQ3K(y + 96, j);
    if (d == 0) continue;
    for (let ii = 0; ii < 16; ++ii) {
      const l = nearestInt(ldf(x, 16 * j + ii) / d);
      store<i8>(L + <usize>(16 * j + ii), <i8>(max_i(-4, min_i(3, l)) + 4));
    }
  }
  memory.fill(y, 0, 32);
  let m = 0;
  let hm = 1;
  for (let j = 0; j < QK_K; ++j) {
    const lj = <i32>load<i8>(L + <usize>j);
    if (lj > 3) {
      orU8(y, m, hm);
      store<i8>(L + <usize>j, <i8>(lj - 4));
    }
    if (++m == 32) { m = 0; hm = (hm << 1) & 0xff; }
  }
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; ++l) {
      stu8(y + 32, j / 4 + l,
        ldu8(L, j + l) | (ldu8(L, j + l + 32) << 2) | (ldu8(L, j + l + 64) << 4) | (ldu8(L, j + l + 96) << 6));
    }
  }
}

function q3KRefBlock(x: usize, y: usize): void {
  let maxScale: f32 = 0;
  let amax: f32 = 0;
  for (let j = 0; j < 16; ++j) {
    const s = makeQ3Quants(16, 4, x + 64 * j, L + 16 * j, true);
    stf(scales, j, s);
    const a = Mathf.abs(s);
    if (a > amax) { amax = a; maxScale = s; }
  }
  memory.fill(y + 96, 0, 12);
  if (maxScale != 0) {
    const iscale: f32 = <f32>-32 / maxScale;
    for (let j = 0; j < 16; ++j) {
      let l = <i32><i8>nearestInt(iscale * ldf(scales, j));
      l = <i32><i8>(max_i(-32, min_i(31, l)) + 32);
      putScaleQ3K(y + 96, j, l);
    }
    store<u16>(y + 108, fp32ToFp16(<f32>1 / iscale));
  } else {
    store<u16>(y + 108, fp32ToFp16(0));
  }
  finishQ3K(x, y);
}

function q3KImplBlock(x: usize, y: usize, qw: usize): void {
  const sigma2: f32 = <f32>2 * sumSquares(x, QK_K) / <f32>QK_K;
  for (let j = 0; j < 16; ++j) {
    for (let l = 0; l < 16; ++l) {
      const xv = ldf(x, 16 * j + l);
      stf(weights, l, ldf(qw, 16 * j + l) * Mathf.sqrt(sigma2 + xv * xv));
    }
    let s: f32 = 0;
    for (let l = 0; l < 16; ++l) s += ldf(weights, l);
    stf(sw, j, s);
    stf(scales, j, makeQxQuants(16, 4, x + 64 * j, L + 16 * j, 1, weights));
  }
  memory.fill(y + 96, 0, 12);
  const dBlock = makeQxQuants(16, 32, scales, Ls, 1, sw);
  for (let j = 0; j < 16; ++j) putScaleQ3K(y + 96, j, <i32>load<i8>(Ls + <usize>j));
  store<u16>(y + 108, fp32ToFp16(dBlock));
  finishQ3K(x, y);
}

// ---------------------------------------------------------------- Q4_K / Q5_K

/** Requantizes L to 0..nmax with the stored d/dmin/6-bit scales (Q4_K/Q5_K; scales at y+4). */
function requantK4(x: usize, y: usize, nmax: i32): void {
  const dAll = half(y);
  const mAll = half(y + 2);
  for (let j = 0; j < 8; ++j) {
    const sm = scaleMinK4(j, y + 4);
    const d: f32 = dAll * <f32>(sm & 0xff);
    if (d == 0) continue;
    const dm: f32 = mAll * <f32>(sm >> 8);
    for (let ii = 0; ii < 32; ++ii) {
      const l = nearestInt((ldf(x, 32 * j + ii) + dm) / d);
      stu8(L, 32 * j + ii, max_i(0, min_i(nmax, l)));
    }
  }
}

/** The no-imatrix path of Q4_K/Q5_K: qkx2 search per 32-block, then 6-bit scales relative to the maxima. */
function qkxRefScales(x: usize, y: usize, nmax: i32, rmin: f32, nstep: i32): void {
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < 8; ++j) {
    let sumX2: f32 = 0;
    for (let l = 0; l < 32; ++l) { const v = ldf(x, 32 * j + l); sumX2 += v * v; }
    const avX = Mathf.sqrt(sumX2 / <f32>32);
    for (let l = 0; l < 32; ++l) stf(weights, l, avX + Mathf.abs(ldf(x, 32 * j + l)));
    const s = makeQkx2Quants(32, nmax, x + 128 * j, weights, L + 32 * j, mins + 4 * j, Laux, rmin, 0.1, nstep, false);
    stf(scales, j, s);
    if (s > maxScale) maxScale = s;
    const m = ldf(mins, j);
    if (m > maxMin) maxMin = m;
  }
  const invScale: f32 = maxScale > 0 ? <f32>63 / maxScale : <f32>0;
  const invMin: f32 = maxMin > 0 ? <f32>63 / maxMin : <f32>0;
  for (let j = 0; j < 8; ++j) {
    stu8(Ls, j, min_i(63, nearestInt(invScale * ldf(scales, j)) & 0xff));
    stu8(Lm, j, min_i(63, nearestInt(invMin * ldf(mins, j)) & 0xff));
  }
  memory.fill(y + 4, 0, 12);
  packScalesK4(y + 4, Ls, Lm);
  store<u16>(y, fp32ToFp16(maxScale / <f32>63));
  store<u16>(y + 2, fp32ToFp16(maxMin / <f32>63));
}

/** The imatrix path of Q4_K/Q5_K: qkx3 search per 32-block, then make_qp_quants for the 6-bit scales/mins. */
function qkxImplScales(x: usize, y: usize, qw: usize, nmax: i32, clamp63: bool): void {
  const sigma2: f32 = <f32>2 * sumSquares(x, QK_K) / <f32>QK_K;
  for (let j = 0; j < 8; ++j) {
    for (let l = 0; l < 32; ++l) {
      const xv = ldf(x, 32 * j + l);
      stf(weights, l, ldf(qw, 32 * j + l) * Mathf.sqrt(sigma2 + xv * xv));
    }
    let s: f32 = 0;
    for (let l = 0; l < 32; ++l) s += ldf(weights, l);
    stf(sw, j, s);
    stf(scales, j, makeQkx3Quants(32, nmax, x + 128 * j, weights, L + 32 * j, mins + 4 * j, Laux, -0.9, 0.05, 36, false));
  }
  const dBlock = makeQpQuants(8, 63, scales, Ls, sw);
  const mBlock = makeQpQuants(8, 63, mins, Lm, sw);
  if (clamp63) {
    for (let j = 0; j < 8; ++j) {
      stu8(Ls, j, min_i(63, ldu8(Ls, j)));
      stu8(Lm, j, min_i(63, ldu8(Lm, j)));
    }
  }
  memory.fill(y + 4, 0, 12);
  packScalesK4(y + 4, Ls, Lm);
  store<u16>(y, fp32ToFp16(dBlock));
  store<u16>(y + 2, fp32ToFp16(mBlock));
}

function packQ4K(y: usize): void {
  const q = y + 16;
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; ++l) stu8(q, j / 2 + l, ldu8(L, j + l) | (ldu8(L, j + l + 32) << 4));
  }
}

function packQ5K(y: usize): void {
  const qh = y + 16;
  let ql = y + 48;
  memory.fill(qh, 0, 32);
  let m1 = 1, m2 = 2;
  for (let n = 0; n < QK_K; n += 64) {
    for (let j = 0; j < 32; ++j) {
      let l1 = ldu8(L, n + j);
      if (l1 > 15) { l1 -= 16; orU8(qh, j, m1); }
      let l2 = ldu8(L, n + j + 32);
      if (l2 > 15) { l2 -= 16; orU8(qh, j, m2); }
      stu8(ql, j, l1 | (l2 << 4));
    }
    m1 = (m1 << 2) & 0xff; m2 = (m2 << 2) & 0xff;
    ql += 32;
  }
}

// ---------------------------------------------------------------- Q6_K

function q6KBlock(x: usize, y: usize, qw: usize): void {
  let maxScale: f32 = 0;
  let maxAbsScale: f32 = 0;
  for (let ib = 0; ib < 16; ++ib) {
    const s = makeQxQuants(16, 32, x + 64 * ib, L + 16 * ib, 1, qw ? qw + 64 * ib : 0);
    stf(scales, ib, s);
    const a = Mathf.abs(s);
    if (a > maxAbsScale) { maxAbsScale = a; maxScale = s; }
  }
  if (maxAbsScale < GROUP_MAX_EPS) {
    memory.fill(y, 0, 210);
    store<u16>(y + 208, fp32ToFp16(0));
    return;
  }
  const iscale: f32 = <f32>-128 / maxScale;
  store<u16>(y + 208, fp32ToFp16(<f32>1 / iscale));
  for (let ib = 0; ib < 16; ++ib) store<i8>(y + 192 + <usize>ib, <i8>min_i(127, nearestInt(iscale * ldf(scales, ib))));
  const dAll = half(y + 208);
  for (let j = 0; j < 16; ++j) {
    const d: f32 = dAll * <f32>load<i8>(y + 192 + <usize>j);
    if (d == 0) continue;
    for (let ii = 0; ii < 16; ++ii) {
      const l = nearestInt(ldf(x, 16 * j + ii) / d);
      stu8(L, 16 * j + ii, max_i(-32, min_i(31, l)) + 32);
    }
  }
  let ql = y;
  let qh = y + 128;
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; ++l) {
      const a = ldu8(L, j + l), b = ldu8(L, j + l + 32), c = ldu8(L, j + l + 64), e = ldu8(L, j + l + 96);
      stu8(ql, l, (a & 0xf) | ((c & 0xf) << 4));
      stu8(ql, l + 32, (b & 0xf) | ((e & 0xf) << 4));
      stu8(qh, l, (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

// ---------------------------------------------------------------- exports

/**
 * Reference quantizer: rows x cols f32 at src -> blocks at dst, exactly as
 * ggml_quantize_chunk(type) (imatrix 0: the _ref path; else _impl per row
 * with the per-column weights at imatrix). type: 2..6 for Q2_K..Q6_K.
 */
export function kquantQuantizeRef(type: i32, src: usize, dst: usize, rows: i32, cols: i32, imatrix: usize): void {
  const nb = cols / QK_K;
  const ts: usize = type == 2 ? 84 : type == 3 ? 110 : type == 4 ? 144 : type == 5 ? 176 : 210;
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < nb; ++i) {
      const x = src + ((<usize>r * <usize>cols + <usize>(i * QK_K)) << 2);
      const y = dst + (<usize>r * <usize>nb + <usize>i) * ts;
      const qw: usize = imatrix ? imatrix + (<usize>(i * QK_K) << 2) : 0;
      if (type == 2) {
        if (qw) q2KImplBlock(x, y, qw); else q2KRefBlock(x, y);
      } else if (type == 3) {
        if (qw) q3KImplBlock(x, y, qw); else q3KRefBlock(x, y);
      } else if (type == 4) {
        if (qw) qkxImplScales(x, y, qw, 15, false); else qkxRefScales(x, y, 15, -1, 20);
        requantK4(x, y, 15);
        packQ4K(y);
      } else if (type == 5) {
        if (qw) qkxImplScales(x, y, qw, 31, true); else qkxRefScales(x, y, 31, -0.5, 15);
        requantK4(x, y, 31);
        packQ5K(y);
      } else {
        q6KBlock(x, y, qw);
      }
    }
  }
}

/** Reference dequantizer: nblocks blocks of Q{type}_K at src -> f32 at dst. */
export function kquantDequantizeRef(type: i32, src: usize, dst: usize, nblocks: i32): void {
  let y = dst;
  for (let i = 0; i < nblocks; ++i) {
    if (type == 2) {
      const b = src + <usize>i * 84;
      const d = half(b + 80), min = half(b + 82);
      let q = b + 16;
      let is = 0;
      for (let n = 0; n < QK_K; n += 128) {
        let shift = 0;
        for (let j = 0; j < 4; ++j) {
          for (let h = 0; h < 2; ++h) {
            const sc = ldu8(b, is++);
            const dl: f32 = d * <f32>(sc & 0xf), ml: f32 = min * <f32>(sc >> 4);
            for (let l = 0; l < 16; ++l) {
              store<f32>(y, dl * <f32>((ldu8(q, l + 16 * h) >> shift) & 3) - ml);
              y += 4;
            }
          }
          shift += 2;
        }
        q += 32;
      }
    } else if (type == 3) {
      const b = src + <usize>i * 110;
      const dAll = half(b + 108);
      let q = b + 32;
      const hm = b;
      let m = 1;
      let is = 0;
      for (let n = 0; n < QK_K; n += 128) {
        let shift = 0;
        for (let j = 0; j < 4; ++j) {
          for (let h = 0; h < 2; ++h) {
            const dl: f32 = dAll * <f32>scaleQ3K(b + 96, is++);
            for (let l = 0; l < 16; ++l) {
              const v = ((ldu8(q, l + 16 * h) >> shift) & 3) - ((ldu8(hm, l + 16 * h) & m) ? 0 : 4);
              store<f32>(y, dl * <f32>v);
              y += 4;
            }
          }
          shift += 2;
          m <<= 1;
        }
        q += 32;
      }
    } else if (type == 4 || type == 5) {
      const five = type == 5;
      const b = src + <usize>i * (five ? 176 : 144);
      const d = half(b), min = half(b + 2);
      let ql = b + (five ? 48 : 16);
      const qh = b + 16;
      let is = 0;
      let u1 = 1, u2 = 2;
      for (let j = 0; j < QK_K; j += 64) {
        const sm1 = scaleMinK4(is, b + 4), sm2 = scaleMinK4(is + 1, b + 4);
        const d1: f32 = d * <f32>(sm1 & 0xff), m1: f32 = min * <f32>(sm1 >> 8);
        const d2: f32 = d * <f32>(sm2 & 0xff), m2: f32 = min * <f32>(sm2 >> 8);
        for (let l = 0; l < 32; ++l) {
          const v = (ldu8(ql, l) & 0xf) + (five && (ldu8(qh, l) & u1) ? 16 : 0);
          store<f32>(y, d1 * <f32>v - m1);
          y += 4;
        }
        for (let l = 0; l < 32; ++l) {
          const v = (ldu8(ql, l) >> 4) + (five && (ldu8(qh, l) & u2) ? 16 : 0);
          store<f32>(y, d2 * <f32>v - m2);
          y += 4;
        }
        ql += 32; is += 2; u1 <<= 2; u2 <<= 2;
      }
    } else {
      const b = src + <usize>i * 210;
      const d = half(b + 208);
      let ql = b, qh = b + 128, sc = b + 192;
      for (let n = 0; n < QK_K; n += 128) {
        for (let l = 0; l < 32; ++l) {
          const is = l / 16;
          const h = ldu8(qh, l);
          const q1 = ((ldu8(ql, l) & 0xf) | (((h >> 0) & 3) << 4)) - 32;
          const q2 = ((ldu8(ql, l + 32) & 0xf) | (((h >> 2) & 3) << 4)) - 32;
          const q3 = ((ldu8(ql, l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
          const q4 = ((ldu8(ql, l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
          stf(y, l, d * <f32>load<i8>(sc + <usize>is) * <f32>q1);
          stf(y, l + 32, d * <f32>load<i8>(sc + <usize>(is + 2)) * <f32>q2);
          stf(y, l + 64, d * <f32>load<i8>(sc + <usize>(is + 4)) * <f32>q3);
          stf(y, l + 96, d * <f32>load<i8>(sc + <usize>(is + 6)) * <f32>q4);
        }
        y += 128 * 4;
        ql += 64; qh += 32; sc += 8;
      }
    }
  }
}
