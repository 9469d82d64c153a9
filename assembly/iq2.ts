// IQ2_XXS, IQ2_XS and IQ2_S: 2-bit "true" grid quantization (ggml's
// quantize_row_iq2_{xxs,xs,s}_impl and dequantize_row_iq2_*). Groups of 8
// magnitudes snap to a point of a 256-, 512- or 1024-point grid (levels
// 1, 3, 5 times a block scale); signs are stored separately. Bytes and floats
// are ggml's bit for bit: same f32 operations in the same order.
// ABI: quantize_<k>(src, dst, nrows, ncols, qw|0) -> i32 (UNCHECKED: the host
// screens NaN/Inf), dequantize_<k>(src, dst, nfloats).
import { fp32ToFp16, fp16ToFp32, nearestInt } from "./common";
import { UNCHECKED } from "./legacy_check";
import { GRID_256, GRID_512, GRID_1024, KSIGNS } from "./iq2_grids";
import { iq2Init, kmapOf, neighOf, pkOf, qfOf } from "./iq2_tables";
import { splitSigns, trialKey, bestNeighbour, sums, gSumqx, gSumq2, makeQpScale } from "./iq2_search";

const GROUP_MAX_EPS: f32 = 1e-15;
const GROUP_MAX_EPS_IQ2_S: f32 = 1e-8;

const WEIGHT: usize = memory.data(32 * 4, 16);
const WAUX: usize = memory.data(32 * 4, 16);
const XVAL: usize = memory.data(32 * 4, 16);
const WX: usize = memory.data(32 * 4, 16);
const SCALES: usize = memory.data(16 * 4, 16);
const SIGNS: usize = memory.data(4 * 4, 16);
/** Grid index per group of 8: of the trial (GA) and of the best so far (GB). */
const GA: usize = memory.data(4 * 4, 16);
const GB: usize = memory.data(4 * 4, 16);
const Q2: usize = memory.data(64, 16);
let gSkip = false;

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function sti(p: usize, i: i32, v: i32): void {
  store<i32>(p + (<usize>i << 2), v);
}

/** sum of x^2 over a 256-block, in order. */
function sumSquares(x: usize): f32 {
  let s: f32 = 0;
  for (let i = 0; i < 256; i++) {
    const v = ldf(x, i);
    s += v * v;
  }
  return s;
}

/**
 * weight_i = qw_i*sqrt(sigma2 + x_i^2) (imatrix) or 0.25*sigma2 + x_i^2 (IQ2_S
 * without one), waux_i = sqrt(weight_i), for n values at xb.
 */
function weights(n: i32, xb: usize, qw: usize, sigma2: f32): void {
  const s2 = f32x4.splat(sigma2);
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const v = v128.load(xb + o);
    const w = qw
      ? f32x4.mul(v128.load(qw + o), f32x4.sqrt(f32x4.add(s2, f32x4.mul(v, v))))
      : f32x4.add(f32x4.mul(f32x4.splat(0.25), s2), f32x4.mul(v, v));
    v128.store(WEIGHT + o, w);
    v128.store(WAUX + o, f32x4.sqrt(w));
  }
}

/** w_i*x_i over n values (after the sign split). */
function weightedX(n: i32): void {
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    v128.store(WX + o, f32x4.mul(v128.load(WEIGHT + o), v128.load(XVAL + o)));
  }
}

/** Grid index for group k at inverse scale id; a key off the grid snaps to its best neighbour at scale s. */
// @ts-ignore: decorator
@inline function snap(k: i32, id: f32, s: f32, kmap: usize, neigh: usize, pk: usize): i32 {
  const g = load<i32>(kmap + (<usize>trialKey(XVAL + (<usize>k << 5), id) << 2));
  if (g >= 0) return g;
  return bestNeighbour(neigh, pk, -g - 1, XVAL + (<usize>k << 5), WAUX + (<usize>k << 5), s);
}

// ---------------------------------------------------------------- IQ2_XXS

/** quantize_row_iq2_xxs_impl on one 256-block at x -> 66 bytes at y. */
function iq2xxsBlock(x: usize, y: usize, qw: usize): void {
  const kmap = kmapOf(256), neigh = neighOf(256), pk = pkOf(256), qf = qfOf(256);
  memory.fill(Q2, 0, 64);
  let maxScale: f32 = 0;
  const sigma2: f32 = sumSquares(x) / <f32>256;
  for (let ib = 0; ib < 8; ib++) {
    const xb = x + (<usize>ib << 7);
    weights(32, xb, qw + (<usize>ib << 7), sigma2);
    for (let k = 0; k < 4; k++) {
      const o = <usize>k << 5;
      sti(SIGNS, k, <i32>splitSigns(xb + o, WEIGHT + o, XVAL + o, true));
    }
    let max = ldf(XVAL, 0);
    for (let i = 1; i < 32; i++) { const v = ldf(XVAL, i); max = max > v ? max : v; }
    if (max < GROUP_MAX_EPS) {
      store<f32>(SCALES + (<usize>ib << 2), 0);
      continue;
    }
    let scale = makeQpScale(32, 4, XVAL, WEIGHT);
    const effMax: f32 = scale * <f32>3;
    if (effMax <= 0) {
      store<f32>(SCALES + (<usize>ib << 2), 0);
      continue;
    }
    weightedX(32);
    let best: f32 = 0;
    for (let is = -6; is <= 6; is++) {
      const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / effMax;
      const thisScale: f32 = <f32>1 / id;
      for (let k = 0; k < 4; k++) sti(GA, k, snap(k, id, thisScale, kmap, neigh, pk));
      sums(4, qf, GA, WEIGHT, WX);
      const sumqx = gSumqx, sumq2 = gSumq2;
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2;
        best = scale * sumqx;
        v128.store(GB, v128.load(GA));
      }
    }
    // The levels are recomputed from the final scale. Only a winning trial
    // with a negative scale (sumqx < 0: possible with the parity-flipped
    // value, never seen) keeps that trial's levels, as C keeps L = Laux.
    if (scale > 0) {
      const id: f32 = <f32>1 / scale;
      for (let k = 0; k < 4; k++) sti(GB, k, snap(k, id, scale, kmap, neigh, pk));
      sums(4, qf, GB, WEIGHT, WX);
      if (gSumq2 > 0) scale = gSumqx / gSumq2;
    }
    let flip: u32 = 0;
    if (scale < 0) {
      scale = -scale;
      flip = 127;
    }
    let lo: u32 = 0, hi: u32 = 0;
    for (let k = 0; k < 4; k++) {
      lo |= <u32>ldi(GB, k) << (8 * k);
      hi |= ((<u32>ldi(SIGNS, k) ^ flip) & 127) << (7 * k);
    }
    store<u32>(Q2 + (<usize>ib << 3), lo);
    store<u32>(Q2 + (<usize>ib << 3), hi, 4);
    store<f32>(SCALES + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  store<u16>(y, 0);
  if (maxScale == 0) {
    memory.fill(y + 2, 0, 64);
    return;
  }
  const d: f32 = maxScale / <f32>31;
  store<u16>(y, fp32ToFp16(d));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib) - <f32>1));
    l = l < 15 ? l : 15;
    l = l > 0 ? l : 0;
    const p = Q2 + (<usize>ib << 3) + 4;
    store<u32>(p, load<u32>(p) | (<u32>l << 28));
  }
  memory.copy(y + 2, Q2, 64);
}

export function quantize_iq2_xxs(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  iq2Init(256);
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq2xxsBlock(x, dst + (<usize>(r * nblock + ibl)) * 66, qw + (<usize>ibl << 10));
    }
  }
  return UNCHECKED;
}

// ------------------------------------------------------- IQ2_XS and IQ2_S

/**
 * The shared 16-value search of quantize_row_iq2_xs_impl / _s_impl for one
 * 16-block at xb (weights already set): leaves the grid indices in GB, the
 * sign bytes in SIGNS and returns the scale; gSkip: max < eps, block skipped.
 */
// @ts-ignore: decorator
@inline function search16(xb: usize, gsize: i32, parity: bool, eps: f32): f32 {
  const kmap = kmapOf(gsize), neigh = neighOf(gsize), pk = pkOf(gsize), qf = qfOf(gsize);
  sti(SIGNS, 0, <i32>splitSigns(xb, WEIGHT, XVAL, parity));
  sti(SIGNS, 1, <i32>splitSigns(xb + 32, WEIGHT + 32, XVAL + 32, parity));
  let max = ldf(XVAL, 0);
  for (let i = 1; i < 16; i++) { const v = ldf(XVAL, i); max = max > v ? max : v; }
  gSkip = max < eps;
  if (gSkip) return 0;
  weightedX(16);
  let best: f32 = 0;
  let scale: f32 = max / <f32>5;
  // L = 0 until a trial wins: the grid point of key 0
  const g0 = load<i32>(kmap);
  sti(GB, 0, g0);
  sti(GB, 1, g0);
  let onGrid0 = true, onGrid1 = true;
  for (let is = -9; is <= 9; is++) {
    const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / max;
    const thisScale: f32 = <f32>1 / id;
    const a = load<i32>(kmap + (<usize>trialKey(XVAL, id) << 2));
    const b = load<i32>(kmap + (<usize>trialKey(XVAL + 32, id) << 2));
    sti(GA, 0, a >= 0 ? a : bestNeighbour(neigh, pk, -a - 1, XVAL, WAUX, thisScale));
    sti(GA, 1, b >= 0 ? b : bestNeighbour(neigh, pk, -b - 1, XVAL + 32, WAUX + 32, thisScale));
    sums(2, qf, GA, WEIGHT, WX);
    const sumqx = gSumqx, sumq2 = gSumq2;
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      sti(GB, 0, ldi(GA, 0));
      sti(GB, 1, ldi(GA, 1));
      onGrid0 = a >= 0;
      onGrid1 = b >= 0;
    }
  }
  if ((!onGrid0 || !onGrid1) && scale > 0) {
    const id: f32 = <f32>1 / scale;
    if (!onGrid0) sti(GB, 0, snap(0, id, scale, kmap, neigh, pk));
    if (!onGrid1) sti(GB, 1, snap(1, id, scale, kmap, neigh, pk));
    sums(2, qf, GB, WEIGHT, WX);
    if (gSumq2 > 0) scale = gSumqx / gSumq2;
  }
  return scale;
}

/** quantize_row_iq2_xs_impl on one 256-block at x -> 74 bytes at y. */
function iq2xsBlock(x: usize, y: usize, qw: usize): void {
  let maxScale: f32 = 0;
  const sigma2: f32 = sumSquares(x) / <f32>256;
  const qs = y + 2;
  for (let ib = 0; ib < 16; ib++) {
    const xb = x + (<usize>ib << 6);
    weights(16, xb, qw + (<usize>ib << 6), sigma2);
    let scale = search16(xb, 512, true, GROUP_MAX_EPS);
    if (gSkip) {
      store<u32>(qs + (<usize>ib << 2), 0);
      store<f32>(SCALES + (<usize>ib << 2), 0);
      continue;
    }
    let flip: u32 = 0;
    if (scale < 0) {
      scale = -scale;
      flip = 127;
    }
    store<u16>(qs + (<usize>ib << 2), <u16>(ldi(GB, 0) | ((((<u32>ldi(SIGNS, 0)) ^ flip) & 127) << 9)));
    store<u16>(qs + (<usize>ib << 2), <u16>(ldi(GB, 1) | ((((<u32>ldi(SIGNS, 1)) ^ flip) & 127) << 9)), 2);
    store<f32>(SCALES + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  store<u16>(y, 0);
  store<u64>(y + 66, 0);
  if (maxScale == 0) {
    memory.fill(qs, 0, 64);
    return;
  }
  const d: f32 = maxScale / <f32>31;
  store<u16>(y, fp32ToFp16(d));
  storeScales(y + 66, <f32>1 / d);
}

/** 4-bit sub-scales nearest_int(0.5*(id*scale-1)) clamped to 0..15, two per byte. */
function storeScales(p: usize, id: f32): void {
  for (let ib = 0; ib < 16; ib += 2) {
    let l0 = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib) - <f32>1));
    l0 = l0 < 15 ? l0 : 15;
    l0 = l0 > 0 ? l0 : 0;
    let l1 = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib + 1) - <f32>1));
    l1 = l1 < 15 ? l1 : 15;
    l1 = l1 > 0 ? l1 : 0;
    store<u8>(p + (ib >> 1), <u8>(l0 | (l1 << 4)));
  }
}

export function quantize_iq2_xs(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  iq2Init(512);
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq2xsBlock(x, dst + (<usize>(r * nblock + ibl)) * 74, qw + (<usize>ibl << 10));
    }
  }
  return UNCHECKED;
}

/** quantize_row_iq2_s_impl on one 256-block at x -> 82 bytes at y; qw = 0: no imatrix. */
function iq2sBlock(x: usize, y: usize, qw: usize): void {
  memory.fill(y, 0, 82);
  let maxScale: f32 = 0;
  const sigma2: f32 = <f32>2 * sumSquares(x) / <f32>256;
  const qs = y + 2, signs = y + 34, qh = y + 66;
  for (let ib = 0; ib < 16; ib++) {
    const xb = x + (<usize>ib << 6);
    weights(16, xb, qw ? qw + (<usize>ib << 6) : 0, sigma2);
    let scale = search16(xb, 1024, false, GROUP_MAX_EPS_IQ2_S);
    if (gSkip) {
      store<f32>(SCALES + (<usize>ib << 2), 0);
      continue;
    }
    let flip: u32 = 0;
    if (scale < 0) {
      scale = -scale;
      flip = 255;
    }
    for (let k = 0; k < 2; k++) {
      const i8 = 2 * ib + k;
      const g = ldi(GB, k);
      store<u8>(qs + i8, <u8>g);
      const ph = qh + (i8 >> 2);
      store<u8>(ph, load<u8>(ph) | <u8>((g >> 8) << (2 * (i8 & 3))));
      store<u8>(signs + i8, <u8>(<u32>ldi(SIGNS, k) ^ flip));
    }
    store<f32>(SCALES + (<usize>ib << 2), scale);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  const d: f32 = maxScale / <f32>31;
  store<u16>(y, fp32ToFp16(d * <f32>0.9875));
  storeScales(y + 74, <f32>1 / d);
}

export function quantize_iq2_s(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  iq2Init(1024);
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq2sBlock(x, dst + (<usize>(r * nblock + ibl)) * 82, qw ? qw + (<usize>ibl << 10) : 0);
    }
  }
  return UNCHECKED;
}

// ------------------------------------------------------------ dequantize

// Dequantizer tables, built on first use: every grid point as 8 f32 and every
// sign byte as 8 factors +-1 (C multiplies by -1.f or 1.f).
const GRIDF_256: usize = memory.data(256 * 32, 16);
const GRIDF_512: usize = memory.data(512 * 32, 16);
const GRIDF_1024: usize = memory.data(1024 * 32, 16);
const SIGNF: usize = memory.data(256 * 32, 16);
let dqReady = false;

function dqInit(): void {
  for (let g = 0; g < 1024; g++) {
    for (let j = 0; j < 8; j++) {
      const o = (<usize>g << 5) + (<usize>j << 2);
      if (g < 256) store<f32>(GRIDF_256 + o, <f32>load<u8>(GRID_256 + (<usize>g << 3) + j));
      if (g < 512) store<f32>(GRIDF_512 + o, <f32>load<u8>(GRID_512 + (<usize>g << 3) + j));
      store<f32>(GRIDF_1024 + o, <f32>load<u8>(GRID_1024 + (<usize>g << 3) + j));
      if (g < 256) store<f32>(SIGNF + o, (g >> j) & 1 ? <f32>-1 : <f32>1);
    }
  }
  dqReady = true;
}

/** 8 floats (db*grid[j]) * (sign j ? -1 : 1) of grid point g (f32 row at gp) with sign byte s. */
// @ts-ignore: decorator
@inline function put8(y: usize, gp: usize, s: u32, dbv: v128): void {
  const sp = SIGNF + (<usize>s << 5);
  v128.store(y, f32x4.mul(f32x4.mul(dbv, v128.load(gp)), v128.load(sp)));
  v128.store(y, f32x4.mul(f32x4.mul(dbv, v128.load(gp, 16)), v128.load(sp, 16)), 16);
}

export function dequantize_iq2_xxs(src: usize, dst: usize, n: i32): void {
  if (!dqReady) dqInit();
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    for (let ib = 0; ib < 8; ib++) {
      const a0 = load<u32>(src + 2 + (<usize>ib << 3));
      const a1 = load<u32>(src + 2 + (<usize>ib << 3), 4);
      const dbv = f32x4.splat(d * (<f32>0.5 + <f32>(a1 >> 28)) * <f32>0.25);
      for (let l = 0; l < 4; l++) {
        const s = <u32>load<u8>(KSIGNS + ((a1 >> (7 * l)) & 127));
        put8(dst, GRIDF_256 + (<usize>((a0 >> (8 * l)) & 255) << 5), s, dbv);
        dst += 32;
      }
    }
    src += 66;
  }
}

export function dequantize_iq2_xs(src: usize, dst: usize, n: i32): void {
  if (!dqReady) dqInit();
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    for (let ib = 0; ib < 8; ib++) {
      const sc = <u32>load<u8>(src + 66 + ib);
      const db0 = f32x4.splat(d * (<f32>0.5 + <f32>(sc & 0xf)) * <f32>0.25);
      const db1 = f32x4.splat(d * (<f32>0.5 + <f32>(sc >> 4)) * <f32>0.25);
      const qs = src + 2 + (<usize>ib << 3);
      for (let l = 0; l < 4; l++) {
        const q = <u32>load<u16>(qs + (<usize>l << 1));
        put8(dst, GRIDF_512 + (<usize>(q & 511) << 5), <u32>load<u8>(KSIGNS + (q >> 9)), l < 2 ? db0 : db1);
        dst += 32;
      }
    }
    src += 74;
  }
}

export function dequantize_iq2_s(src: usize, dst: usize, n: i32): void {
  if (!dqReady) dqInit();
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    for (let ib = 0; ib < 8; ib++) {
      const sc = <u32>load<u8>(src + 74 + ib);
      const db0 = f32x4.splat(d * (<f32>0.5 + <f32>(sc & 0xf)) * <f32>0.25);
      const db1 = f32x4.splat(d * (<f32>0.5 + <f32>(sc >> 4)) * <f32>0.25);
      const qh = <u32>load<u8>(src + 66 + ib);
      const qs = src + 2 + (<usize>ib << 2);
      for (let l = 0; l < 4; l++) {
        const g = <u32>load<u8>(qs + l) | ((qh << (8 - 2 * l)) & 0x300);
        put8(dst, GRIDF_1024 + (<usize>g << 5), <u32>load<u8>(qs + 32 + l), l < 2 ? db0 : db1);
        dst += 32;
      }
    }
    src += 82;
  }
}
