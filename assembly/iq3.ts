// IQ3_XXS (3.0625 bpw) and IQ3_S (3.4375 bpw): 256-weight super-blocks of
// 32-blocks; groups of 4 weights are points of a 256- or 512-point grid of
// 3-bit levels (2l+1), with one sign bit per weight and a 4-bit scale per
// 32-block. Quantization ports ggml's quantize_row_iq3_xxs_impl(256, ...) and
// quantize_row_iq3_s_impl(32, ...) operation for operation (f32, no FMA, C's
// summation order); the grid tables come from iq3_init.ts.
import { fp32ToFp16, fp16ToFp32, nearestInt } from "./common";
import { UNCHECKED } from "./legacy_check";
import { IQ3XXS_GRID, IQ3S_GRID, KSIGNS_IQ2XS } from "./iq3_tables";
import { GRID_256, KMAP_256, NEIGH_256, GRID_512, KMAP_512, NEIGH_512, initGrid256, initGrid512 } from "./iq3_init";

const K_MAX_Q = 8;
/** 2*kMaxQ - 1, an int in C (converted to float where it meets one) */
const QMAX: i32 = 2 * K_MAX_Q - 1;
const GROUP_MAX_EPS_IQ3_XXS: f32 = 1e-8;

// per-32-block scratch (ggml's stack arrays)
const WEIGHT: usize = memory.data(32 * 4, 16);
const WAUX: usize = memory.data(32 * 4, 16);
const XVAL: usize = memory.data(32 * 4, 16);
const LBEST: usize = memory.data(32, 16); // L
const LAUX: usize = memory.data(32, 16);
const ONGRID: usize = memory.data(8, 16);
const ONGRID_AUX: usize = memory.data(8, 16);
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

/**
 * iq3_find_best_neighbour: the neighbour of the off-grid point whose scaled
 * levels are closest to xv (weights wv, 4 values) -- the first of equal
 * distances. Writes its levels to lOut and returns its grid index.
 */
function bestNeighbour(list: usize, grid: usize, xv: usize, wv: usize, scale: f32, lOut: usize): i32 {
  const n = <i32>load<u16>(list);
  let best: f32 = f32.MAX_VALUE;
  let gi = -1;
  for (let j = 1; j <= n; j++) {
    const idx = <i32>load<u16>(list + (<usize>j << 1));
    const pg = grid + (<usize>idx << 2);
    let d2: f32 = 0;
    for (let i = 0; i < 4; i++) {
      const q = <f32>load<i8>(pg + i);
      const diff: f32 = scale * q - ldf(xv, i);
      d2 += ldf(wv, i) * diff * diff;
    }
    if (d2 < best) {
      best = d2;
      gi = idx;
    }
  }
  // ggml asserts here (no distance below FLT_MAX: overflowed input); keep going deterministically
  if (gi < 0) gi = <i32>load<u16>(list, 2);
  const pg = grid + (<usize>gi << 2);
  for (let i = 0; i < 4; i++) store<i8>(lOut + i, <i8>((load<i8>(pg + i) - 1) >> 1));
  return gi;
}

/** u = the 4 levels at l (3 bits each), the kmap index of the group. */
// @ts-ignore: decorator
@inline function packLevels(l: usize): i32 {
  return <i32>load<u8>(l) | (<i32>load<u8>(l, 1) << 3) | (<i32>load<u8>(l, 2) << 6) | (<i32>load<u8>(l, 3) << 9);
}

// @ts-ignore: decorator
@inline function levelOf(id: f32, x: f32): i32 {
  const l = nearestInt(<f32>0.5 * (id * x - <f32>1));
  return l < 0 ? 0 : l > K_MAX_Q - 1 ? K_MAX_Q - 1 : l;
}

/**
 * The scale search of one 32-block (xval, weight, waux filled, max > eps):
 * trials is = -nis..nis, then the off-grid refit. Leaves the levels in LBEST
 * and returns the scale. xxs: IQ3_XXS's variant (on-grid flags start true and
 * the refit only revisits off-grid groups), else IQ3_S's.
 */
function blockSearch(max: f32, nis: i32, xxs: bool, grid: usize, kmap: usize, neigh: usize): f32 {
  let best: f32 = 0;
  let scale: f32 = max / <f32>QMAX;
  for (let k = 0; k < 8; k++) store<u8>(ONGRID + k, xxs ? 1 : 0);
  for (let is = -nis; is <= nis; is++) {
    const id: f32 = (<f32>QMAX + <f32>is * <f32>0.2) / max;
    const thisScale: f32 = <f32>1 / id;
    for (let k = 0; k < 8; k++) {
      const la = LAUX + (<usize>k << 2);
      for (let i = 0; i < 4; i++) store<i8>(la + i, <i8>levelOf(id, ldf(XVAL, 4 * k + i)));
      const u = packLevels(la);
      const gi = load<i32>(kmap + (<usize>u << 2));
      store<u8>(ONGRID_AUX + k, 1);
      if (gi < 0) {
        store<u8>(ONGRID_AUX + k, 0);
        bestNeighbour(neigh + (<usize>(-gi - 1) << 1), grid, XVAL + (<usize>k << 4), WAUX + (<usize>k << 4), thisScale, la);
      }
    }
    let sumqx: f32 = 0, sumq2: f32 = 0;
    for (let i = 0; i < 32; i++) {
      const w = ldf(WEIGHT, i);
      const q = <f32>(<i32>load<i8>(LAUX + i) * 2 + 1);
      sumqx += w * ldf(XVAL, i) * q;
      sumq2 += w * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      memory.copy(LBEST, LAUX, 32);
      memory.copy(ONGRID, ONGRID_AUX, 8);
    }
  }
  let notOnGrid = 0;
  for (let k = 0; k < 8; k++) if (!load<u8>(ONGRID + k)) notOnGrid++;
  if (notOnGrid > 0 && scale > 0) {
    const id: f32 = <f32>1 / scale;
    for (let k = 0; k < 8; k++) {
      if (xxs && load<u8>(ONGRID + k)) continue;
      const lb = LBEST + (<usize>k << 2);
      let u = 0;
      for (let i = 0; i < 4; i++) u |= levelOf(id, ldf(XVAL, 4 * k + i)) << (3 * i);
      let gi = load<i32>(kmap + (<usize>u << 2));
      if (gi < 0) {
        gi = bestNeighbour(neigh + (<usize>(-gi - 1) << 1), grid, XVAL + (<usize>k << 4), WAUX + (<usize>k << 4), scale, lb);
      }
      const pg = grid + (<usize>gi << 2);
      for (let i = 0; i < 4; i++) store<i8>(lb + i, <i8>((load<i8>(pg + i) - 1) >> 1));
    }
    let sumqx: f32 = 0, sumq2: f32 = 0;
    for (let i = 0; i < 32; i++) {
      const w = ldf(WEIGHT, i);
      const q = <f32>(<i32>load<i8>(LBEST + i) * 2 + 1);
      sumqx += w * ldf(XVAL, i) * q;
      sumq2 += w * q * q;
    }
    if (sumq2 > 0) scale = sumqx / sumq2;
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
    memory.fill(LBEST, 0, 32);
    if (max < GROUP_MAX_EPS_IQ3_XXS) {
      stf(SCALES, ib, 0);
      continue;
    }
    let scale = blockSearch(max, 15, true, GRID_256, KMAP_256, NEIGH_256);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) store<u8>(BSIGNS + k, <u8>(~load<u8>(BSIGNS + k) & 127));
    }
    for (let k = 0; k < 8; k++) {
      const gi = load<i32>(KMAP_256 + (<usize>packLevels(LBEST + (<usize>k << 2)) << 2));
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
    memory.fill(LBEST, 0, 32);
    if (max == 0) {
      // as in ggml: qs and signs do not advance for a zero block
      stf(SCALES, ib, 0);
      continue;
    }
    let scale = blockSearch(max, 9, false, GRID_512, KMAP_512, NEIGH_512);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) store<u8>(BSIGNS + k, ~load<u8>(BSIGNS + k));
    }
    for (let k = 0; k < 8; k++) {
      const gi = load<i32>(KMAP_512 + (<usize>packLevels(LBEST + (<usize>k << 2)) << 2));
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
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq3sSuperblock(x, dst + (<usize>(r * nblock + ibl)) * 110, qw ? qw + (<usize>ibl << 10) : 0);
    }
  }
  return UNCHECKED;
}

/** 8 floats at y: db * grid bytes of g1 (y[0..3]) and g2 (y[4..7]), negated where the sign byte has a bit. */
// @ts-ignore: decorator
@inline function put8(y: usize, db: f32, g1: u32, g2: u32, signs: u32): void {
  for (let j = 0; j < 4; j++) {
    const a: f32 = db * <f32>((g1 >> (8 * j)) & 0xff);
    const b: f32 = db * <f32>((g2 >> (8 * j)) & 0xff);
    store<f32>(y + (<usize>j << 2), a * ((signs >> j) & 1 ? <f32>-1 : <f32>1));
    store<f32>(y + (<usize>(j + 4) << 2), b * ((signs >> (j + 4)) & 1 ? <f32>-1 : <f32>1));
  }
}

export function dequantize_iq3_xxs(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    let qs = src + 2;
    const ss = src + 66;
    for (let ib = 0; ib < 8; ib++) {
      const aux = load<u32>(ss + (<usize>ib << 2));
      const db: f32 = d * (<f32>0.5 + <f32>(aux >> 28)) * <f32>0.5;
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
        const db: f32 = d * <f32>(ls * 2 + 1);
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
