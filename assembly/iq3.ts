// IQ3_XXS (3.0625 bpw) and IQ3_S (3.4375 bpw): 256-weight super-blocks of
// 32-blocks; groups of 4 weights are points of a 256- or 512-point grid of
// 3-bit levels (2l+1), with one sign bit per weight and a 4-bit scale per
// 32-block. Quantization ports ggml's quantize_row_iq3_xxs_impl(256, ...) and
// quantize_row_iq3_s_impl(32, ...) operation for operation (f32, no FMA, C's
// summation order); the grid tables come from iq3_init.ts.
import { fp32ToFp16, fp16ToFp32, nearestInt } from "./common";
import { UNCHECKED } from "./legacy_check";
import { IQ3XXS_GRID, IQ3S_GRID, KSIGNS_IQ2XS } from "./iq3_tables";
import {
  GRIDF_256, KMAP_256, NN_256, NBQ_256, NBI_256, GRIDF_512, KMAP_512, NN_512, NBQ_512, NBI_512, initGrid256, initGrid512,
} from "./iq3_init";

const K_MAX_Q = 8;
/** 2*kMaxQ - 1, an int in C (converted to float where it meets one) */
const QMAX: i32 = 2 * K_MAX_Q - 1;
const GROUP_MAX_EPS_IQ3_XXS: f32 = 1e-8;

// per-32-block scratch (ggml's stack arrays); levels are kept as grid indices
// (GI) and as floats 2l+1 (Q), which is all the search reads of L
const WEIGHT: usize = memory.data(32 * 4, 16);
const WAUX: usize = memory.data(32 * 4, 16);
const XVAL: usize = memory.data(32 * 4, 16);
const WX: usize = memory.data(32 * 4, 16); // weight * xval, the first product of C's sumqx term
/** xval and waux, each value splatted to a v128 (for the neighbour search) */
const XS: usize = memory.data(32 * 16, 16);
const WS: usize = memory.data(32 * 16, 16);
const QBEST: usize = memory.data(32 * 4, 16);
const GI: usize = memory.data(8 * 4, 16);
const ONGRID: usize = memory.data(8, 16);
// per trial (up to 31, padded to 32): id, 1/id, grid indices and on-grid
// flags of the 8 groups, levels transposed (QT[i][t], for sums in trial lanes), sums
const TID: usize = memory.data(32 * 4, 16);
const TSCALE: usize = memory.data(32 * 4, 16);
const TGI: usize = memory.data(32 * 8 * 4, 16);
const TONGRID: usize = memory.data(32 * 8, 16);
const QT: usize = memory.data(32 * 32 * 4, 16);
const TSQX: usize = memory.data(32 * 4, 16);
const TSQ2: usize = memory.data(32 * 4, 16);
const BSIGNS: usize = memory.data(8, 16);
const SCALES: usize = memory.data(8 * 4, 16);
/** IQ3_XXS: grid indices (64), then scales_and_signs (8 x u32), as ggml's q3 buffer. */
const Q3: usize = memory.data(104, 16);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}

// The tables of the grid in use (iq3_init.ts), set by the quantize entry
// points (globals, not an object: the stub runtime's allocator would take
// memory from the host's heap).
let gGridf: usize = 0;
let gKmap: usize = 0;
let gNn: usize = 0;
let gNbq: usize = 0;
let gNbi: usize = 0;

/**
 * Set where ggml's quantizer would abort (a GGML_ASSERT on input so large that
 * the f32 sums overflow); the host asks after each call (iq3_take_abort).
 */
let ggmlAborts = false;

/** 1 if a quantize call since the last ask hit one of ggml's asserts, else 0; clears the flag. */
export function iq3_take_abort(): i32 {
  const r = ggmlAborts;
  ggmlAborts = false;
  return r ? 1 : 0;
}

function useGrid(gridf: usize, kmap: usize, nn: usize, nbq: usize, nbi: usize): void {
  gGridf = gridf;
  gKmap = kmap;
  gNn = nn;
  gNbq = nbq;
  gNbi = nbi;
}

/**
 * iq3_find_best_neighbour for the off-grid point whose neighbours start at
 * chunk c0 (n of them), for group k: the neighbour whose scaled levels are
 * closest to the group's xval (weights waux), the first of equal distances;
 * returns its grid index.
 * Four neighbours per step, one per lane; each lane sums over i = 0..3 in C's
 * order, so every distance is C's. A lane keeps its first strictly smaller
 * distance, so the lanes hold the first minimum of positions = lane mod 4;
 * the overall first minimum is the smallest value, ties to the smallest
 * position -- exactly what C's scan with `d2 < best_d2` finds. Padding copies
 * of the last neighbour tie with it at a larger position, so they never win.
 */
// @ts-ignore: decorator
@inline function bestNeighbour(c0: i32, n: i32, k: i32, scale: f32): i32 {
  const s = f32x4.splat(scale);
  const xs = XS + (<usize>k << 6), ws = WS + (<usize>k << 6);
  const x0 = v128.load(xs), x1 = v128.load(xs, 16), x2 = v128.load(xs, 32), x3 = v128.load(xs, 48);
  const w0 = v128.load(ws), w1 = v128.load(ws, 16), w2 = v128.load(ws, 32), w3 = v128.load(ws, 48);
  let best = f32x4.splat(f32.MAX_VALUE);
  let bpos = i32x4.splat(-1);
  let pos = i32x4(0, 1, 2, 3);
  let p = gNbq + (<usize>c0 << 6);
  const end = p + (<usize>((n + 3) >> 2) << 6);
  do {
    let diff = f32x4.sub(f32x4.mul(s, v128.load(p)), x0);
    let d2 = f32x4.add(f32x4.splat(0), f32x4.mul(f32x4.mul(w0, diff), diff));
    diff = f32x4.sub(f32x4.mul(s, v128.load(p, 16)), x1);
    d2 = f32x4.add(d2, f32x4.mul(f32x4.mul(w1, diff), diff));
    diff = f32x4.sub(f32x4.mul(s, v128.load(p, 32)), x2);
    d2 = f32x4.add(d2, f32x4.mul(f32x4.mul(w2, diff), diff));
    diff = f32x4.sub(f32x4.mul(s, v128.load(p, 48)), x3);
    d2 = f32x4.add(d2, f32x4.mul(f32x4.mul(w3, diff), diff));
    const m = f32x4.lt(d2, best);
    best = v128.bitselect(d2, best, m);
    bpos = v128.bitselect(pos, bpos, m);
    pos = i32x4.add(pos, i32x4.splat(4));
    p += 64;
  } while (p < end);
  // the smallest value (no NaN is ever kept), then the smallest position holding it
  let mn = f32x4.min(best, i8x16.shuffle(best, best, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  mn = f32x4.min(mn, i8x16.shuffle(mn, mn, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  let bp = v128.bitselect(bpos, i32x4.splat(i32.MAX_VALUE), f32x4.eq(best, mn));
  bp = i32x4.min_s(bp, i8x16.shuffle(bp, bp, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  bp = i32x4.min_s(bp, i8x16.shuffle(bp, bp, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  let at = i32x4.extract_lane(bp, 0);
  // -1: no distance below FLT_MAX (overflowed input): ggml aborts (GGML_ASSERT); flag it, carry on
  if (at < 0) {
    ggmlAborts = true;
    at = 0;
  }
  return <i32>load<u16>(gNbi + (<usize>c0 << 3) + (<usize>at << 1));
}

/** nearest_int(0.5f*(id*x - 1)) clamped to 0..7, on 4 lanes (element-wise, C's operations). */
// @ts-ignore: decorator
@inline function levels4(id: v128, xv: v128): v128 {
  const t = f32x4.add(f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.mul(id, xv), f32x4.splat(1))), f32x4.splat(12582912));
  const l = i32x4.sub(v128.and(t, i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
  return i32x4.min_s(i32x4.max_s(l, i32x4.splat(0)), i32x4.splat(K_MAX_Q - 1));
}

/** The 4 levels packed 3 bits each: the group's kmap index. */
// @ts-ignore: decorator
@inline function pack4(l: v128): i32 {
  const m = i32x4.mul(l, i32x4(1, 8, 64, 512));
  return i32x4.extract_lane(m, 0) | i32x4.extract_lane(m, 1) | i32x4.extract_lane(m, 2) | i32x4.extract_lane(m, 3);
}

/** Grid index of group k (levels of id * xval): the point itself or its best neighbour at `scale`. */
// @ts-ignore: decorator
@inline function groupIndex(k: i32, id: v128, scale: f32): i32 {
  const xv = v128.load(XVAL + (<usize>k << 4));
  const u = pack4(levels4(id, xv));
  const gi = load<i32>(gKmap + (<usize>u << 2));
  if (gi >= 0) return gi;
  return bestNeighbour(-gi - 1, <i32>load<u8>(gNn + u), k, scale);
}

/** C's sumqx, sumq2 over the block for levels q (2l+1) at qp; returns sumqx, sets SUMQ2. */
let SUMQ2: f32 = 0;
// @ts-ignore: decorator
@inline function sums(qp: usize): f32 {
  let sumqx: f32 = 0, sumq2: f32 = 0;
  for (let i = 0; i < 32; i++) {
    const w = ldf(WEIGHT, i);
    const q = ldf(qp, i);
    sumqx += ldf(WX, i) * q;
    sumq2 += w * q * q;
  }
  SUMQ2 = sumq2;
  return sumqx;
}

/**
 * The scale search of one 32-block (xval, weight, waux filled, max > eps):
 * trials is = -nis..nis, then the off-grid refit. Leaves the grid indices in
 * GI and returns the scale. xxs: IQ3_XXS's variant (on-grid flags start true
 * and the refit only revisits off-grid groups), else IQ3_S's.
 * The trials are independent until C compares their sums, so they run group
 * by group (group k of every trial, then group k+1), and the sums of four
 * trials run side by side in SIMD lanes, each lane summing over i = 0..31 in
 * C's order; the winner is then picked in C's order of trials.
 */
function blockSearch(max: f32, nis: i32, xxs: bool): f32 {
  for (let i = 0; i < 32; i += 4) {
    v128.store(WX + (<usize>i << 2), f32x4.mul(v128.load(WEIGHT + (<usize>i << 2)), v128.load(XVAL + (<usize>i << 2))));
  }
  for (let i = 0; i < 32; i++) {
    v128.store(XS + (<usize>i << 4), f32x4.splat(ldf(XVAL, i)));
    v128.store(WS + (<usize>i << 4), f32x4.splat(ldf(WAUX, i)));
  }
  const ntrial = 2 * nis + 1;
  for (let t = 0; t < ntrial; t++) {
    const id: f32 = (<f32>QMAX + <f32>(t - nis) * <f32>0.2) / max;
    stf(TID, t, id);
    stf(TSCALE, t, <f32>1 / id);
  }
  for (let k = 0; k < 8; k++) {
    const xv = v128.load(XVAL + (<usize>k << 4));
    for (let t = 0; t < ntrial; t++) {
      const u = pack4(levels4(f32x4.splat(ldf(TID, t)), xv));
      let gi = load<i32>(gKmap + (<usize>u << 2));
      let on: u8 = 1;
      if (gi < 0) {
        on = 0;
        gi = bestNeighbour(-gi - 1, <i32>load<u8>(gNn + u), k, ldf(TSCALE, t));
      }
      store<u8>(TONGRID + (<usize>(t << 3) + k), on);
      store<i32>(TGI + (<usize>(t << 3) + k << 2), gi);
      // levels of element 4k+c for trial t at QT[4k+c][t]
      const g = gGridf + (<usize>gi << 4);
      const qt = QT + (<usize>k << 9) + (<usize>t << 2);
      store<f32>(qt, load<f32>(g));
      store<f32>(qt, load<f32>(g, 4), 128);
      store<f32>(qt, load<f32>(g, 8), 256);
      store<f32>(qt, load<f32>(g, 12), 384);
    }
  }
  for (let t = 0; t < ntrial; t += 4) {
    let qx = f32x4.splat(0), q2 = f32x4.splat(0);
    for (let i = 0; i < 32; i++) {
      const q = v128.load(QT + (<usize>i << 7) + (<usize>t << 2));
      qx = f32x4.add(qx, f32x4.mul(f32x4.splat(ldf(WX, i)), q));
      q2 = f32x4.add(q2, f32x4.mul(f32x4.mul(f32x4.splat(ldf(WEIGHT, i)), q), q));
    }
    v128.store(TSQX + (<usize>t << 2), qx);
    v128.store(TSQ2 + (<usize>t << 2), q2);
  }
  let best: f32 = 0;
  let scale: f32 = max / <f32>QMAX;
  let win = -1;
  for (let t = 0; t < ntrial; t++) {
    const sumqx = ldf(TSQX, t), sumq2 = ldf(TSQ2, t);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      win = t;
    }
  }
  if (win >= 0) {
    memory.copy(GI, TGI + (<usize>win << 5), 32);
    memory.copy(ONGRID, TONGRID + (<usize>win << 3), 8);
  } else {
    const gi0 = load<i32>(gKmap); // L = 0: grid point 0
    for (let k = 0; k < 8; k++) {
      store<u8>(ONGRID + k, xxs ? 1 : 0);
      store<i32>(GI + (<usize>k << 2), gi0);
    }
  }
  let notOnGrid = 0;
  for (let k = 0; k < 8; k++) if (!load<u8>(ONGRID + k)) notOnGrid++;
  if (notOnGrid > 0 && scale > 0) {
    const idv = f32x4.splat(<f32>1 / scale);
    for (let k = 0; k < 8; k++) {
      if (xxs && load<u8>(ONGRID + k)) continue;
      store<i32>(GI + (<usize>k << 2), groupIndex(k, idv, scale));
    }
    for (let k = 0; k < 8; k++) {
      v128.store(QBEST + (<usize>k << 4), v128.load(gGridf + (<usize>load<i32>(GI + (<usize>k << 2)) << 4)));
    }
    const sumqx = sums(QBEST);
    if (SUMQ2 > 0) scale = sumqx / SUMQ2;
  }
  return scale;
}

/** weight (x^2, or qw * sqrt(sigma2 + x^2) with an imatrix) and waux = sqrt(weight) of one 32-block. */
function blockWeights(xb: usize, qw: usize, sigma2: f32): void {
  for (let i = 0; i < 32; i++) {
    const x = ldf(xb, i);
    const w: f32 = qw ? ldf(qw, i) * Mathf.sqrt(sigma2 + x * x) : x * x;
    stf(WEIGHT, i, w);
    stf(WAUX, i, Mathf.sqrt(w));
  }
}

// @ts-ignore: decorator
@inline function superSigma2(xbl: usize): f32 {
  let sumx2: f32 = 0;
  for (let i = 0; i < 256; i++) {
    const v = ldf(xbl, i);
    sumx2 += v * v;
  }
  return <f32>2 * sumx2 / <f32>256;
}

/** quantize_row_iq3_xxs_impl(256, ...) on one super-block: x -> 98 bytes at y. */
function iq3xxsSuperblock(xbl: usize, y: usize, qwl: usize): void {
  store<u16>(y, fp32ToFp16(0));
  memory.fill(Q3, 0, 104);
  let maxScale: f32 = 0;
  const sigma2 = superSigma2(xbl);
  for (let ib = 0; ib < 8; ib++) {
    const xb = xbl + (<usize>ib << 7);
    blockWeights(xb, qwl ? qwl + (<usize>ib << 7) : 0, sigma2);
    for (let k = 0; k < 4; k++) {
      let nflip = 0;
      let s: u32 = 0;
      for (let i = 0; i < 8; i++) {
        const v = ldf(xb, 8 * k + i);
        if (v >= 0) stf(XVAL, 8 * k + i, v);
        else {
          stf(XVAL, 8 * k + i, -v);
          nflip++;
          s |= 1 << i;
        }
      }
      if (nflip & 1) {
        // even sign parity: flip the sign of the weight that costs least
        let imin = 0;
        let xm = ldf(xb, 8 * k);
        let min: f32 = ldf(WEIGHT, 8 * k) * xm * xm;
        for (let i = 1; i < 8; i++) {
          const xi = ldf(xb, 8 * k + i);
          const ax: f32 = ldf(WEIGHT, 8 * k + i) * xi * xi;
          if (ax < min) {
            min = ax;
            imin = i;
          }
        }
        stf(XVAL, 8 * k + imin, -ldf(XVAL, 8 * k + imin));
        s ^= 1 << imin;
      }
      store<u8>(BSIGNS + k, <u8>(s & 127));
    }
    let max = ldf(XVAL, 0);
    for (let i = 1; i < 32; i++) {
      const v = ldf(XVAL, i);
      max = max > v ? max : v;
    }
    if (max < GROUP_MAX_EPS_IQ3_XXS) {
      stf(SCALES, ib, 0);
      continue;
    }
    let scale = blockSearch(max, 15, true);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) store<u8>(BSIGNS + k, <u8>(~load<u8>(BSIGNS + k) & 127));
    }
    if (!(scale >= 0)) ggmlAborts = true; // GGML_ASSERT(scale >= 0): a NaN scale
    for (let k = 0; k < 8; k++) {
      const gi = load<i32>(GI + (<usize>k << 2));
      store<u8>(Q3 + (<usize>(8 * ib + k)), <u8>gi);
    }
    const ss = <u32>load<u8>(BSIGNS) | (<u32>load<u8>(BSIGNS, 1) << 7) | (<u32>load<u8>(BSIGNS, 2) << 14) | (<u32>load<u8>(BSIGNS, 3) << 21);
    store<u32>(Q3 + 64 + (<usize>ib << 2), ss);
    stf(SCALES, ib, scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) {
    memory.fill(y + 2, 0, 96);
    return;
  }
  const d: f32 = maxScale / <f32>31;
  store<u16>(y, fp32ToFp16(d * <f32>1.0125));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib) - <f32>1));
    l = l < 0 ? 0 : l > 15 ? 15 : l;
    const p = Q3 + 64 + (<usize>ib << 2);
    store<u32>(p, load<u32>(p) | (<u32>l << 28));
  }
  memory.copy(y + 2, Q3, 96);
}

/** quantize_row_iq3_s_impl(32, ...) on one super-block: x -> 110 bytes at y. */
function iq3sSuperblock(xbl: usize, y: usize, qwl: usize): void {
  memory.fill(y, 0, 110);
  store<u16>(y, fp32ToFp16(0));
  let qs = y + 2;
  const qh = y + 66;
  let signs = y + 74;
  let maxScale: f32 = 0;
  const sigma2 = superSigma2(xbl);
  for (let ib = 0; ib < 8; ib++) {
    const xb = xbl + (<usize>ib << 7);
    blockWeights(xb, qwl ? qwl + (<usize>ib << 7) : 0, sigma2);
    for (let k = 0; k < 4; k++) {
      let s: u32 = 0;
      for (let i = 0; i < 8; i++) {
        const v = ldf(xb, 8 * k + i);
        if (v >= 0) stf(XVAL, 8 * k + i, v);
        else {
          stf(XVAL, 8 * k + i, -v);
          s |= 1 << i;
        }
      }
      store<u8>(BSIGNS + k, <u8>s);
    }
    let max = ldf(XVAL, 0);
    for (let i = 1; i < 32; i++) {
      const v = ldf(XVAL, i);
      max = max > v ? max : v;
    }
    if (max == 0) {
      // as in ggml: qs and signs do not advance for a zero block
      stf(SCALES, ib, 0);
      continue;
    }
    let scale = blockSearch(max, 9, false);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) store<u8>(BSIGNS + k, ~load<u8>(BSIGNS + k));
    }
    if (!(scale >= 0)) ggmlAborts = true; // GGML_ASSERT(scale >= 0): a NaN scale
    for (let k = 0; k < 8; k++) {
      const gi = load<i32>(GI + (<usize>k << 2));
      store<u8>(qs + k, <u8>gi);
      const h = qh + (<usize>ib);
      store<u8>(h, load<u8>(h) | <u8>((gi >> 8) << k));
    }
    qs += 8;
    for (let k = 0; k < 4; k++) store<u8>(signs + k, load<u8>(BSIGNS + k));
    signs += 4;
    stf(SCALES, ib, scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  const d: f32 = maxScale / <f32>31;
  store<u16>(y, fp32ToFp16(d * <f32>1.033));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 8; ib += 2) {
    let l1 = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib) - <f32>1));
    l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
    let l2 = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib + 1) - <f32>1));
    l2 = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
    store<u8>(y + 106 + (<usize>ib >> 1), <u8>(l1 | (l2 << 4)));
  }
}

export function quantize_iq3_xxs(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  initGrid256();
  useGrid(GRIDF_256, KMAP_256, NN_256, NBQ_256, NBI_256);
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq3xxsSuperblock(x, dst + (<usize>(r * nblock + ibl)) * 98, qw ? qw + (<usize>ibl << 10) : 0);
    }
  }
  return UNCHECKED;
}

export function quantize_iq3_s(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  initGrid512();
  useGrid(GRIDF_512, KMAP_512, NN_512, NBQ_512, NBI_512);
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq3sSuperblock(x, dst + (<usize>(r * nblock + ibl)) * 110, qw ? qw + (<usize>ibl << 10) : 0);
    }
  }
  return UNCHECKED;
}

/** +-1 for lanes 0..3 (bits 1, 2, 4, 8 of signs) or, with hi, lanes 4..7 (16 .. 128): C's (signs & kmask_iq2xs[j] ? -1.f : 1.f). */
// @ts-ignore: decorator
@inline function signs4(signs: u32, bits: v128): v128 {
  const clear = i32x4.eq(v128.and(i32x4.splat(signs), bits), i32x4.splat(0));
  return v128.bitselect(f32x4.splat(1), f32x4.splat(-1), clear);
}

/**
 * 8 floats at y: C's db * grid1[j] * (+-1) (j = 0..3) and db * grid2[j] * (+-1),
 * element-wise in SIMD (the same two products per float).
 */
// @ts-ignore: decorator
@inline function put8(y: usize, db: v128, g1: u32, g2: u32, signs: u32): void {
  const b = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(g1), 1, g2));
  const q1 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(b));
  const q2 = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(b));
  v128.store(y, f32x4.mul(f32x4.mul(db, q1), signs4(signs, i32x4(1, 2, 4, 8))));
  v128.store(y, f32x4.mul(f32x4.mul(db, q2), signs4(signs, i32x4(16, 32, 64, 128))), 16);
}

export function dequantize_iq3_xxs(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    let qs = src + 2;
    const ss = src + 66;
    for (let ib = 0; ib < 8; ib++) {
      const aux = load<u32>(ss + (<usize>ib << 2));
      const db = f32x4.splat(d * (<f32>0.5 + <f32>(aux >> 28)) * <f32>0.5);
      for (let l = 0; l < 4; l++) {
        const signs = <u32>load<u8>(KSIGNS_IQ2XS + ((aux >> (7 * l)) & 127));
        const g1 = load<u32>(IQ3XXS_GRID + (<usize>load<u8>(qs + 2 * l) << 2));
        const g2 = load<u32>(IQ3XXS_GRID + (<usize>load<u8>(qs + 2 * l + 1) << 2));
        put8(dst, db, g1, g2, signs);
        dst += 32;
      }
      qs += 8;
    }
    src += 98;
  }
}

export function dequantize_iq3_s(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    let qs = src + 2;
    let qh = src + 66;
    let signs = src + 74;
    for (let ib = 0; ib < 8; ib += 2) {
      const sc = <i32>load<u8>(src + 106 + (<usize>ib >> 1));
      for (let half = 0; half < 2; half++) {
        const ls: i32 = half ? sc >> 4 : sc & 0xf;
        const db = f32x4.splat(d * <f32>(ls * 2 + 1));
        const h = <u32>load<u8>(qh + half);
        for (let l = 0; l < 4; l++) {
          const i1 = <u32>load<u8>(qs + 2 * l) | ((h << (8 - 2 * l)) & 256);
          const i2 = <u32>load<u8>(qs + 2 * l + 1) | ((h << (7 - 2 * l)) & 256);
          put8(dst, db, load<u32>(IQ3S_GRID + (<usize>i1 << 2)), load<u32>(IQ3S_GRID + (<usize>i2 << 2)), <u32>load<u8>(signs + l));
          dst += 32;
        }
        qs += 8;
        signs += 4;
      }
      qh += 2;
    }
    src += 110;
  }
}
