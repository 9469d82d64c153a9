// IQ1_S (1.5625 bpw) and IQ1_M (1.75 bpw): ggml's 2048-point ternary grid
// (iq1s_grid), quantized like quantize_row_iq1_s_impl / quantize_row_iq1_m_impl
// (what ggml_quantize_chunk runs), bit for bit. Same ABI as the other kernels:
// quantize_<type>(src, dst, nrows, ncols, qw | 0), dequantize_<type>(src, dst, n).
//
// Exactness notes (details in docs/codecs.md):
// * the sort is C's qsort of (x, index) pairs compared by x only; glibc's
//   merge sort keeps ties (and -0 == +0) in input order, i.e. a sort by
//   (x, index), which is what sortBlock32/sortBlock16 do;
// * every float sum runs in C's order; SIMD only runs independent sums side by
//   side (IQ1_M's four shift combinations in 4 lanes, IQ1_S's split points i2
//   in 4 lanes, 4 grid neighbours in 4 lanes) or prefilters candidates with
//   the exact test C applies, so a candidate that C would take is always
//   re-checked in C's order.
import { fp32ToFp16, fp16ToFp32, nearestInt } from "./common";
import { IQ1S_GRID } from "./iq1_grid";
import { FGRID, iq1Init, iq1InitDequant, GRID4, KG, KMAP, NEIGH } from "./iq1_tables";

const FLT_MAX: f32 = 3.4028234663852886e38;
const EPS_S: f32 = 1e-12;
const EPS_M: f32 = 1e-7;

// x_p = {-1 + delta, delta, 1 + delta}, x_m = {-1 - delta, -delta, 1 - delta}, delta = 0.125
const XP: usize = memory.data<f32>([-0.875, 0.125, 1.125, 0]);
const XM: usize = memory.data<f32>([-1.125, -0.125, 0.875, 0]);

const W: usize = memory.data(256 * 4, 16); // weights of the super-block
const SX: usize = memory.data(40 * 4, 16); // cumulative sums (IQ1_S), padded for 4-lane loads
const SW: usize = memory.data(40 * 4, 16);
const CP: usize = memory.data(36 * 4, 16); // IQ1_S search: the i2 terms
const CM: usize = memory.data(36 * 4, 16);
const CWP: usize = memory.data(36 * 4, 16);
const CWM: usize = memory.data(36 * 4, 16);
const KEYS: usize = memory.data(32 * 4, 16); // sortable keys of a block
const IDX: usize = memory.data(32 * 4, 16); // sorted position -> index in the block
const LV: usize = memory.data(32, 16); // L, levels 0..2
const SCALES: usize = memory.data(16 * 4, 16);
const SHIFTS: usize = memory.data(16 * 4, 16);
const INDEX: usize = memory.data(4 * 4, 16);
const TERM: usize = memory.data(8 * 16, 16); // neighbour search: w*diff*diff per element (4 floats) and level
const TX: usize = memory.data(16 * 3 * 16, 16); // IQ1_M: per sorted position and level, the 4-lane terms
const TQ: usize = memory.data(16 * 3 * 16, 16);

/**
 * Set when no grid neighbour has a finite error (float overflow: |x| around
 * 1e9 and above). C then scans the whole grid reading xval[i] for i up to 2047,
 * past the block, and GGML_ASSERTs when that finds nothing either; its result
 * is undefined, so the quantize kernels stop and return ABORTS - (index of the
 * block's first float), and the host reports it (kernelCodec.ts).
 */
let aborted = false;
const ABORTS: i32 = -3;

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}

// @ts-ignore: decorator
@inline function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function sti(p: usize, i: i32, v: i32): void {
  store<i32>(p + (<usize>i << 2), v);
}

/** Digit j (0..2) of grid point g: (pg[j] - 1) / 2 in ggml's init grid. */
// @ts-ignore: decorator
@inline function digit(g: i32, j: i32): i32 {
  return (<i32>load<u16>(KG + (<usize>g << 1)) >> (2 * j)) & 3;
}

/** Index of the first non-finite float among n at x, or -1. */
function nonFinite(x: usize, n: i32): i32 {
  const absMask = i32x4.splat(0x7fffffff);
  const finiteMax = i32x4.splat(0x7f7fffff);
  let acc = i32x4.splat(0);
  for (let i = 0; i < n; i += 4) acc = v128.or(acc, i32x4.gt_s(v128.and(v128.load(x + (<usize>i << 2)), absMask), finiteMax));
  if (!v128.any_true(acc)) return -1;
  for (let i = 0; i < n; i++) if ((load<u32>(x + (<usize>i << 2)) & 0x7fffffff) > 0x7f7fffff) return i;
  return -1;
}

/** max |x| over n (a multiple of 4) finite floats. */
function absMax(x: usize, n: i32): f32 {
  let m = i32x4.splat(0);
  for (let i = 0; i < n; i += 4) m = i32x4.max_s(m, v128.and(v128.load(x + (<usize>i << 2)), i32x4.splat(0x7fffffff)));
  m = i32x4.max_s(m, i8x16.shuffle(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  m = i32x4.max_s(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  return reinterpret<f32>(i32x4.extract_lane(m, 0));
}

/** sigma2 = 2*sum(x^2)/256 over the super-block, summed in order; weights qw*sqrt(sigma2 + x^2) or x^2. */
function superWeights(x: usize, qw: usize): void {
  let sumx2: f32 = 0;
  for (let i = 0; i < 256; i++) {
    const v = ldf(x, i);
    sumx2 += v * v;
  }
  const sigma2: f32 = (<f32>2 * sumx2) / <f32>256;
  const s2 = f32x4.splat(sigma2);
  for (let i: usize = 0; i < 1024; i += 16) {
    const v = v128.load(x + i);
    const w = qw ? f32x4.mul(v128.load(qw + i), f32x4.sqrt(f32x4.add(s2, f32x4.mul(v, v)))) : f32x4.mul(v, v);
    v128.store(W + i, w);
  }
}

/** Sortable unsigned keys of 4 floats: the float order, with -0 == +0. */
// @ts-ignore: decorator
@inline function sortKeys(v: v128): v128 {
  const b = f32x4.add(v, f32x4.splat(0)); // -0 + 0 = +0
  return v128.xor(b, v128.or(i32x4.shr_s(b, 31), i32x4.splat(0x80000000)));
}

/** Ranks with ties: (key, index) pairs compared lexicographically. */
function rankTies(n: i32): void {
  for (let i = 0; i < n; i++) {
    const ki = load<u32>(KEYS + (<usize>i << 2));
    let r = 0;
    for (let j = 0; j < n; j++) {
      const kj = load<u32>(KEYS + (<usize>j << 2));
      if (kj < ki || (kj == ki && j < i)) r++;
    }
    sti(IDX, r, i);
  }
}

// @ts-ignore: decorator
@inline function scatter4(r: v128, i: i32): void {
  sti(IDX, i32x4.extract_lane(r, 0), i);
  sti(IDX, i32x4.extract_lane(r, 1), i + 1);
  sti(IDX, i32x4.extract_lane(r, 2), i + 2);
  sti(IDX, i32x4.extract_lane(r, 3), i + 3);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * IDX[0..32) = the block's indices ordered by x, ties in index order (glibc's
 * stable merge sort under iq1_sort_helper, which compares x only, so -0 == +0).
 * The rank of element i is the number of smaller keys, counted 4 lanes at a
 * time; if the ranks are not a permutation there are ties, and rankTies
 * breaks them by index.
 */
function sortBlock32(xb: usize): void {
  const k0 = sortKeys(v128.load(xb)), k1 = sortKeys(v128.load(xb, 16));
  const k2 = sortKeys(v128.load(xb, 32)), k3 = sortKeys(v128.load(xb, 48));
  const k4 = sortKeys(v128.load(xb, 64)), k5 = sortKeys(v128.load(xb, 80));
  const k6 = sortKeys(v128.load(xb, 96)), k7 = sortKeys(v128.load(xb, 112));
  v128.store(KEYS, k0); v128.store(KEYS, k1, 16); v128.store(KEYS, k2, 32); v128.store(KEYS, k3, 48);
  v128.store(KEYS, k4, 64); v128.store(KEYS, k5, 80); v128.store(KEYS, k6, 96); v128.store(KEYS, k7, 112);
  let r0 = i32x4.splat(0), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0;
  for (let j: usize = 0; j < 128; j += 4) {
    const kj = v128.load32_splat(KEYS + j);
    r0 = i32x4.sub(r0, i32x4.gt_u(k0, kj)); r1 = i32x4.sub(r1, i32x4.gt_u(k1, kj));
    r2 = i32x4.sub(r2, i32x4.gt_u(k2, kj)); r3 = i32x4.sub(r3, i32x4.gt_u(k3, kj));
    r4 = i32x4.sub(r4, i32x4.gt_u(k4, kj)); r5 = i32x4.sub(r5, i32x4.gt_u(k5, kj));
    r6 = i32x4.sub(r6, i32x4.gt_u(k6, kj)); r7 = i32x4.sub(r7, i32x4.gt_u(k7, kj));
  }
  // distinct keys <=> ranks 0..31 <=> the ranks sum to 496 (ties lower the sum)
  if (hsum(i32x4.add(i32x4.add(i32x4.add(r0, r1), i32x4.add(r2, r3)), i32x4.add(i32x4.add(r4, r5), i32x4.add(r6, r7)))) != 496) {
    rankTies(32);
    return;
  }
  scatter4(r0, 0); scatter4(r1, 4); scatter4(r2, 8); scatter4(r3, 12);
  scatter4(r4, 16); scatter4(r5, 20); scatter4(r6, 24); scatter4(r7, 28);
}

/** sortBlock32 for a 16-block (IQ1_M). */
function sortBlock16(xb: usize): void {
  const k0 = sortKeys(v128.load(xb)), k1 = sortKeys(v128.load(xb, 16));
  const k2 = sortKeys(v128.load(xb, 32)), k3 = sortKeys(v128.load(xb, 48));
  v128.store(KEYS, k0); v128.store(KEYS, k1, 16); v128.store(KEYS, k2, 32); v128.store(KEYS, k3, 48);
  let r0 = i32x4.splat(0), r1 = r0, r2 = r0, r3 = r0;
  for (let j: usize = 0; j < 64; j += 4) {
    const kj = v128.load32_splat(KEYS + j);
    r0 = i32x4.sub(r0, i32x4.gt_u(k0, kj)); r1 = i32x4.sub(r1, i32x4.gt_u(k1, kj));
    r2 = i32x4.sub(r2, i32x4.gt_u(k2, kj)); r3 = i32x4.sub(r3, i32x4.gt_u(k3, kj));
  }
  if (hsum(i32x4.add(i32x4.add(r0, r1), i32x4.add(r2, r3))) != 120) {
    rankTies(16);
    return;
  }
  scatter4(r0, 0); scatter4(r1, 4); scatter4(r2, 8); scatter4(r3, 12);
}

/** Pattern number sum L[j] * 3^j of 8 levels at LV + o. */
// @ts-ignore: decorator
@inline function pattern(o: i32): i32 {
  const p = LV + <usize>o;
  return <i32>load<u8>(p) + 3 * (<i32>load<u8>(p, 1) + 3 * (<i32>load<u8>(p, 2) + 3 * (<i32>load<u8>(p, 3) +
    3 * (<i32>load<u8>(p, 4) + 3 * (<i32>load<u8>(p, 5) + 3 * (<i32>load<u8>(p, 6) + 3 * <i32>load<u8>(p, 7)))))));
}

/**
 * iq1_find_best_neighbour2: among the listed neighbours (count at nb, then
 * grid indices), the first with the smallest sum_i w[i]*(scale*xx[digit] - x[i])^2
 * (strict <, from FLT_MAX). Each term depends only on (i, digit), so the 24
 * terms are computed once, exactly as C does, into one 4-float table per i;
 * 4 neighbours are summed side by side, each in C's order i = 0..7, their
 * terms picked from the tables by a byte swizzle. Returns -1 if no sum is
 * below FLT_MAX.
 */
function bestNeighbour(nb: usize, x: usize, w: usize, scale: f32, xx: usize): i32 {
  const s0 = scale * ldf(xx, 0), s1 = scale * ldf(xx, 1), s2 = scale * ldf(xx, 2);
  for (let i = 0; i < 8; i++) {
    const wi = ldf(w, i);
    const xi = ldf(x, i);
    const t = TERM + (<usize>i << 4);
    let diff: f32 = s0 - xi;
    store<f32>(t, wi * diff * diff);
    diff = s1 - xi;
    store<f32>(t, wi * diff * diff, 4);
    diff = s2 - xi;
    store<f32>(t, wi * diff * diff, 8);
  }
  const t0 = v128.load(TERM), t1 = v128.load(TERM, 16), t2 = v128.load(TERM, 32), t3 = v128.load(TERM, 48);
  const t4 = v128.load(TERM, 64), t5 = v128.load(TERM, 80), t6 = v128.load(TERM, 96), t7 = v128.load(TERM, 112);
  const n = <i32>load<u16>(nb);
  const list = nb + 2;
  let bestV = f32x4.splat(FLT_MAX);
  let bestP = i32x4.splat(0x7fffffff);
  let pos = i32x4(0, 1, 2, 3);
  const nv = i32x4.splat(n);
  const offs = i32x4.splat(0x03020100);
  for (let j = 0; j < n; j += 4) {
    const p = list + (<usize>j << 1);
    let a = v128.load64_zero(GRID4 + (<usize>(load<u16>(p) & 2047) << 3));
    a = v128.load64_lane(GRID4 + (<usize>(load<u16>(p, 2) & 2047) << 3), a, 1);
    let b = v128.load64_zero(GRID4 + (<usize>(load<u16>(p, 4) & 2047) << 3));
    b = v128.load64_lane(GRID4 + (<usize>(load<u16>(p, 6) & 2047) << 3), b, 1);
    let d2 = f32x4.splat(0);
    d2 = f32x4.add(d2, i8x16.swizzle(t0, i8x16.add(i8x16.shuffle(a, b, 0, 0, 0, 0, 8, 8, 8, 8, 16, 16, 16, 16, 24, 24, 24, 24), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t1, i8x16.add(i8x16.shuffle(a, b, 1, 1, 1, 1, 9, 9, 9, 9, 17, 17, 17, 17, 25, 25, 25, 25), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t2, i8x16.add(i8x16.shuffle(a, b, 2, 2, 2, 2, 10, 10, 10, 10, 18, 18, 18, 18, 26, 26, 26, 26), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t3, i8x16.add(i8x16.shuffle(a, b, 3, 3, 3, 3, 11, 11, 11, 11, 19, 19, 19, 19, 27, 27, 27, 27), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t4, i8x16.add(i8x16.shuffle(a, b, 4, 4, 4, 4, 12, 12, 12, 12, 20, 20, 20, 20, 28, 28, 28, 28), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t5, i8x16.add(i8x16.shuffle(a, b, 5, 5, 5, 5, 13, 13, 13, 13, 21, 21, 21, 21, 29, 29, 29, 29), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t6, i8x16.add(i8x16.shuffle(a, b, 6, 6, 6, 6, 14, 14, 14, 14, 22, 22, 22, 22, 30, 30, 30, 30), offs)));
    d2 = f32x4.add(d2, i8x16.swizzle(t7, i8x16.add(i8x16.shuffle(a, b, 7, 7, 7, 7, 15, 15, 15, 15, 23, 23, 23, 23, 31, 31, 31, 31), offs)));
    const take = v128.and(f32x4.lt(d2, bestV), i32x4.lt_s(pos, nv));
    bestV = v128.bitselect(d2, bestV, take);
    bestP = v128.bitselect(pos, bestP, take);
    pos = i32x4.add(pos, i32x4.splat(4));
  }
  let v = f32x4.extract_lane(bestV, 0);
  let at = i32x4.extract_lane(bestP, 0);
  let v1 = f32x4.extract_lane(bestV, 1);
  let a1 = i32x4.extract_lane(bestP, 1);
  if (v1 < v || (v1 == v && a1 < at)) { v = v1; at = a1; }
  v1 = f32x4.extract_lane(bestV, 2);
  a1 = i32x4.extract_lane(bestP, 2);
  if (v1 < v || (v1 == v && a1 < at)) { v = v1; at = a1; }
  v1 = f32x4.extract_lane(bestV, 3);
  a1 = i32x4.extract_lane(bestP, 3);
  if (v1 < v || (v1 == v && a1 < at)) { v = v1; at = a1; }
  if (at == 0x7fffffff) return -1;
  return <i32>load<u16>(list + (<usize>at << 1));
}

// ---------------------------------------------------------------- IQ1_S

// Best split so far (IQ1_S and IQ1_M searches).
let bestScore: f32 = 0;
let bestScale: f32 = 0;
let bestI1: i32 = -1;
let bestI2: i32 = -1;
let bestK: i32 = 0;

/** C's candidate test and update for split (i1, i2), shift sh, in C's order. */
// @ts-ignore: decorator
@inline function tryS(sumqx: f32, sumq2: f32, i1: i32, i2: i32, sh: i32): void {
  if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2) {
    bestScale = sumqx / sumq2;
    bestScore = bestScale * sumqx;
    bestI1 = i1;
    bestI2 = i2;
    bestK = sh;
  }
}

/** C's two tests (x_p, then x_m) for the split (i1, i2). */
// @ts-ignore: decorator
@inline function tryPM(qxp: f32, q2p: f32, qxm: f32, q2m: f32, i1: i32, i2: i32): void {
  tryS(qxp, q2p, i1, i2, 1);
  tryS(qxm, q2m, i1, i2, -1);
}

/**
 * The exhaustive split search of one 32-block: for each i1, the split points
 * i2 = i1..32 four at a time in lanes (each lane evaluates C's expressions);
 * a group where no lane passes C's test against the current best cannot
 * change anything, the others are replayed in C's order, lane by lane (each
 * lane holds exactly the value C computes).
 * The terms that depend on i2 only are computed once per block (CP..CWM);
 * x_p[1] = -x_m[1] = 2^-3, so b*x_m[1] == -(b*x_p[1]) and
 * b*x_m[1]*x_m[1] == b*x_p[1]*x_p[1] bit for bit (rounding is symmetric).
 */
function searchS(): void {
  const p0 = ldf(XP, 0), p1 = f32x4.splat(ldf(XP, 1)), p2 = f32x4.splat(ldf(XP, 2));
  const m0 = ldf(XM, 0), m2 = f32x4.splat(ldf(XM, 2));
  const tx = f32x4.splat(ldf(SX, 32)), tw = f32x4.splat(ldf(SW, 32));
  for (let i: usize = 0; i < 36 * 4; i += 16) {
    const c = f32x4.sub(tx, v128.load(SX + i));
    const cw = f32x4.sub(tw, v128.load(SW + i));
    v128.store(CP + i, f32x4.mul(c, p2));
    v128.store(CM + i, f32x4.mul(c, m2));
    v128.store(CWP + i, f32x4.mul(f32x4.mul(cw, p2), p2));
    v128.store(CWM + i, f32x4.mul(f32x4.mul(cw, m2), m2));
  }
  for (let i1 = 0; i1 <= 32; i1++) {
    const a = ldf(SX, i1) - ldf(SX, 0);
    const aw = ldf(SW, i1) - ldf(SW, 0);
    const ap = f32x4.splat(a * p0), am = f32x4.splat(a * m0);
    const awp = f32x4.splat(aw * p0 * p0), awm = f32x4.splat(aw * m0 * m0);
    const s1 = f32x4.splat(ldf(SX, i1)), w1 = f32x4.splat(ldf(SW, i1));
    let bs = f32x4.splat(bestScore);
    for (let i2 = i1; i2 <= 32; i2 += 4) {
      const o = <usize>i2 << 2;
      const bp = f32x4.mul(f32x4.sub(v128.load(SX + o), s1), p1);
      const bq = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(SW + o), w1), p1), p1);
      const qxp = f32x4.add(f32x4.add(ap, bp), v128.load(CP + o));
      const qxm = f32x4.add(f32x4.sub(am, bp), v128.load(CM + o));
      const q2p = f32x4.add(f32x4.add(awp, bq), v128.load(CWP + o));
      const q2m = f32x4.add(f32x4.add(awm, bq), v128.load(CWM + o));
      // C's test without its sumq2 > 0 half: a weaker filter, still exact, as
      // the replay applies the whole test
      const pass = v128.or(f32x4.gt(f32x4.mul(qxp, qxp), f32x4.mul(bs, q2p)), f32x4.gt(f32x4.mul(qxm, qxm), f32x4.mul(bs, q2m)));
      if (v128.any_true(pass)) {
        tryPM(f32x4.extract_lane(qxp, 0), f32x4.extract_lane(q2p, 0), f32x4.extract_lane(qxm, 0), f32x4.extract_lane(q2m, 0), i1, i2);
        if (i2 + 1 <= 32) tryPM(f32x4.extract_lane(qxp, 1), f32x4.extract_lane(q2p, 1), f32x4.extract_lane(qxm, 1), f32x4.extract_lane(q2m, 1), i1, i2 + 1);
        if (i2 + 2 <= 32) tryPM(f32x4.extract_lane(qxp, 2), f32x4.extract_lane(q2p, 2), f32x4.extract_lane(qxm, 2), f32x4.extract_lane(q2m, 2), i1, i2 + 2);
        if (i2 + 3 <= 32) tryPM(f32x4.extract_lane(qxp, 3), f32x4.extract_lane(q2p, 3), f32x4.extract_lane(qxm, 3), f32x4.extract_lane(q2m, 3), i1, i2 + 3);
        bs = f32x4.splat(bestScore);
      }
    }
  }
}

function iq1sSuper(x: usize, y: usize, qw: usize): void {
  store<u16>(y, 0);
  memory.fill(y + 2, 0, 48);
  superWeights(x, qw);
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 8; ib++) {
    const xb = x + (<usize>ib << 7);
    const wb = W + (<usize>ib << 7);
    stf(SCALES, ib, 0);
    sti(SHIFTS, ib, 1);
    if (absMax(xb, 32) < EPS_S) continue;
    sortBlock32(xb);
    stf(SX, 0, 0);
    stf(SW, 0, 0);
    for (let j = 0; j < 32; j++) {
      const i = ldi(IDX, j);
      const wi = ldf(wb, i);
      stf(SX, j + 1, ldf(SX, j) + wi * ldf(xb, i));
      stf(SW, j + 1, ldf(SW, j) + wi);
    }
    bestScore = -FLT_MAX;
    bestScale = 0;
    bestI1 = -1;
    bestI2 = -1;
    bestK = 0;
    searchS();
    if (bestI1 < 0 || bestI2 < 0 || bestK == 0) continue;
    let scale = bestScale;
    let shift = bestK;
    for (let j = 0; j < 32; j++) store<u8>(LV + <usize>ldi(IDX, j), j < bestI1 ? 0 : j < bestI2 ? 1 : 2);
    if (scale < 0) {
      for (let j = 0; j < 32; j++) store<u8>(LV + <usize>j, 2 - load<u8>(LV + <usize>j));
      scale = -scale;
      shift = -shift;
    }
    const xx = shift == 1 ? XP : XM;
    let allOnGrid = true;
    for (let k = 0; k < 4; k++) {
      let g = ldi(KMAP, pattern(8 * k));
      if (g < 0) {
        allOnGrid = false;
        g = bestNeighbour(NEIGH + (<usize>(-g - 1) << 1), xb + (<usize>k << 5), wb + (<usize>k << 5), scale, xx);
        if (g < 0) {
          aborted = true;
          g = 0;
        }
      }
      sti(INDEX, k, g);
    }
    if (!allOnGrid) {
      let sumqx: f32 = 0, sumq2: f32 = 0;
      for (let k = 0; k < 4; k++) {
        const g = ldi(INDEX, k);
        for (let j = 0; j < 8; j++) {
          const w = ldf(wb, 8 * k + j);
          const q = ldf(xx, digit(g, j));
          sumqx += w * q * ldf(xb, 8 * k + j);
          sumq2 += w * q * q;
        }
      }
      if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
    }
    let h: u32 = 0;
    for (let k = 0; k < 4; k++) {
      const g = ldi(INDEX, k);
      store<u8>(y + 2 + <usize>(4 * ib + k), <u8>(g & 255));
      h |= <u32>(g >> 8) << (3 * k);
    }
    store<u16>(y + 34 + (<usize>ib << 1), <u16>h);
    stf(SCALES, ib, scale);
    sti(SHIFTS, ib, shift);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  const d: f32 = maxScale / <f32>15;
  store<u16>(y, fp32ToFp16(d * <f32>1.125));
  const id: f32 = <f32>1 / d;
  for (let ib = 0; ib < 8; ib++) {
    let l = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib) - <f32>1));
    l = l > 7 ? 7 : l;
    l = l < 0 ? 0 : l;
    if (ldi(SHIFTS, ib) == -1) l |= 8;
    const p = y + 34 + (<usize>ib << 1);
    store<u16>(p, <u16>(<u32>load<u16>(p) | (<u32>l << 12)));
  }
}

export function quantize_iq1_s(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  iq1Init();
  aborted = false;
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      if (nonFinite(x, 256) >= 0) return r * ncols + (ibl << 8);
      iq1sSuper(x, dst + (<usize>(r * nblock + ibl)) * 50, qw + (<usize>ibl << 10));
      if (aborted) return ABORTS - (r * ncols + (ibl << 8));
    }
  }
  return -1;
}

/** 8 floats dl * (grid[j] + delta) of grid point g at dst; neg: 32 for -delta, else 0. */
// @ts-ignore: decorator
@inline function put8(dst: usize, g: i32, dl: v128, neg: usize): void {
  const t = FGRID + (<usize>g << 6) + neg;
  v128.store(dst, f32x4.mul(dl, v128.load(t)));
  v128.store(dst, f32x4.mul(dl, v128.load(t, 16)), 16);
}

export function dequantize_iq1_s(src: usize, dst: usize, n: i32): void {
  iq1InitDequant();
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    for (let ib: usize = 0; ib < 8; ib++) {
      const h = <i32>load<u16>(src + 34 + (ib << 1));
      const dl = f32x4.splat(d * <f32>(((h >> 12) & 7) * 2 + 1));
      const delta: usize = (h >> 10) & 32;
      const q = load<u32>(src + 2 + (ib << 2));
      put8(dst, <i32>(q & 255) | ((h & 7) << 8), dl, delta);
      put8(dst + 32, <i32>((q >> 8) & 255) | ((h & 0x38) << 5), dl, delta);
      put8(dst + 64, <i32>((q >> 16) & 255) | ((h & 0x1c0) << 2), dl, delta);
      put8(dst + 96, <i32>(q >> 24) | ((h & 0xe00) >> 1), dl, delta);
      dst += 128;
    }
    src += 50;
  }
}

// ---------------------------------------------------------------- IQ1_M

/** The 4 lanes' x_p/x_m level value g for an element in the first (lo) or second half of a 16-block. */
// @ts-ignore: decorator
@inline function laneLevels(lo: bool, g: i32): v128 {
  const p = ldf(XP, g), m = ldf(XM, g);
  // lanes are C's sumqx[0..3]: 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-)
  return lo ? f32x4(p, p, m, m) : f32x4(p, m, p, m);
}

/** C's test and update over k = 0..3 in order, lanes of (sumqx, sumq2). */
// @ts-ignore: decorator
@inline function tryM(sx: v128, s2: v128, i1: i32, i2: i32): void {
  tryS(f32x4.extract_lane(sx, 0), f32x4.extract_lane(s2, 0), i1, i2, 0);
  tryS(f32x4.extract_lane(sx, 1), f32x4.extract_lane(s2, 1), i1, i2, 1);
  tryS(f32x4.extract_lane(sx, 2), f32x4.extract_lane(s2, 2), i1, i2, 2);
  tryS(f32x4.extract_lane(sx, 3), f32x4.extract_lane(s2, 3), i1, i2, 3);
}

/**
 * The split search of one 16-block. C sums, for every (i1, i2), the terms of
 * the sorted elements j = 0..15 (level 0 below i1, 1 below i2, 2 above) into
 * four accumulators. The four are lanes here; the sum over j < i1 is the same
 * for all i2 and the sum over j < i2 continues it, so both are carried along
 * (same additions in the same order), and only the level-2 tail is redone.
 */
function searchM(xb: usize, wb: usize): void {
  for (let j = 0; j < 16; j++) {
    const i = ldi(IDX, j);
    const w = f32x4.splat(ldf(wb, i));
    const xv = f32x4.splat(ldf(xb, i));
    for (let g = 0; g < 3; g++) {
      const lv = laneLevels(i < 8, g);
      const wl = f32x4.mul(w, lv);
      const o = <usize>(j * 3 + g) << 4;
      v128.store(TX + o, f32x4.mul(wl, xv));
      v128.store(TQ + o, f32x4.mul(wl, lv));
    }
  }
  const zero = f32x4.splat(0);
  let px = zero, pq = zero;
  for (let i1 = 0; i1 <= 16; i1++) {
    let qx = px, qq = pq;
    for (let i2 = i1; i2 <= 16; i2++) {
      let rx = qx, rq = qq;
      for (let j = i2; j < 16; j++) {
        const o = <usize>(j * 3 + 2) << 4;
        rx = f32x4.add(rx, v128.load(TX + o));
        rq = f32x4.add(rq, v128.load(TQ + o));
      }
      if (v128.any_true(f32x4.gt(f32x4.mul(rx, rx), f32x4.mul(f32x4.splat(bestScore), rq)))) tryM(rx, rq, i1, i2);
      if (i2 < 16) {
        const o = <usize>(i2 * 3 + 1) << 4;
        qx = f32x4.add(qx, v128.load(TX + o));
        qq = f32x4.add(qq, v128.load(TQ + o));
      }
    }
    if (i1 < 16) {
      const o = <usize>(i1 * 3) << 4;
      px = f32x4.add(px, v128.load(TX + o));
      pq = f32x4.add(pq, v128.load(TQ + o));
    }
  }
}

/** x_p or x_m for 8-group k of a 16-block with shift combination s. */
// @ts-ignore: decorator
@inline function levelsOf(s: i32, k: i32): usize {
  return k == 0 ? (s < 2 ? XP : XM) : ((s & 1) == 0 ? XP : XM);
}

function iq1mSuper(x: usize, y: usize, qw: usize): void {
  memory.fill(y, 0, 56);
  superWeights(x, qw);
  let maxScale: f32 = 0;
  for (let ib = 0; ib < 16; ib++) {
    const xb = x + (<usize>ib << 6);
    const wb = W + (<usize>ib << 6);
    stf(SCALES, ib, 0);
    sti(SHIFTS, ib, 0);
    if (absMax(xb, 16) < EPS_M) continue;
    sortBlock16(xb);
    bestScore = -FLT_MAX;
    bestScale = 0;
    bestI1 = -1;
    bestI2 = -1;
    bestK = -1;
    searchM(xb, wb);
    if (bestI1 < 0 || bestI2 < 0 || bestK < 0) continue;
    let scale = bestScale;
    let shift = bestK;
    for (let j = 0; j < 16; j++) store<u8>(LV + <usize>ldi(IDX, j), j < bestI1 ? 0 : j < bestI2 ? 1 : 2);
    if (scale < 0) {
      for (let j = 0; j < 16; j++) store<u8>(LV + <usize>j, 2 - load<u8>(LV + <usize>j));
      scale = -scale;
      shift = 3 - shift;
    }
    let allOnGrid = true;
    for (let k = 0; k < 2; k++) {
      let g = ldi(KMAP, pattern(8 * k));
      if (g < 0) {
        allOnGrid = false;
        g = bestNeighbour(NEIGH + (<usize>(-g - 1) << 1), xb + (<usize>k << 5), wb + (<usize>k << 5), scale, levelsOf(shift, k));
        if (g < 0) {
          aborted = true;
          g = 0;
        }
      }
      sti(INDEX, k, g);
    }
    if (!allOnGrid) {
      let sumqx: f32 = 0, sumq2: f32 = 0;
      for (let k = 0; k < 2; k++) {
        const xx = levelsOf(shift, k);
        const g = ldi(INDEX, k);
        for (let j = 0; j < 8; j++) {
          const w = ldf(wb, 8 * k + j);
          const q = ldf(xx, digit(g, j));
          sumqx += w * q * ldf(xb, 8 * k + j);
          sumq2 += w * q * q;
        }
      }
      if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
    }
    const g0 = ldi(INDEX, 0), g1 = ldi(INDEX, 1);
    store<u8>(y + <usize>(2 * ib), <u8>(g0 & 255));
    store<u8>(y + <usize>(2 * ib + 1), <u8>(g1 & 255));
    store<u8>(y + 32 + <usize>ib, <u8>((g0 >> 8) | ((g1 >> 8) << 4)));
    stf(SCALES, ib, scale);
    sti(SHIFTS, ib, shift);
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (maxScale == 0) return;
  const sc = y + 48;
  let d: f32 = maxScale / <f32>15;
  const id: f32 = <f32>1 / d;
  let sumqx: f32 = 0, sumq2: f32 = 0;
  for (let ib = 0; ib < 16; ib++) {
    let l = nearestInt(<f32>0.5 * (id * ldf(SCALES, ib) - <f32>1));
    l = l > 7 ? 7 : l;
    l = l < 0 ? 0 : l;
    const sp = sc + (<usize>(ib >> 2) << 1);
    store<u16>(sp, <u16>(<u32>load<u16>(sp) | (<u32>l << (3 * (ib & 3)))));
    const s = ldi(SHIFTS, ib);
    const mask: u32 = s == 0 ? 0 : s == 1 ? 0x80 : s == 2 ? 0x08 : 0x88;
    const qh = <u32>load<u8>(y + 32 + <usize>ib) | mask;
    store<u8>(y + 32 + <usize>ib, <u8>qh);
    const xb = x + (<usize>ib << 6);
    const wb = W + (<usize>ib << 6);
    const f = <f32>(l * 2 + 1);
    for (let k = 0; k < 2; k++) {
      const xx = levelsOf(s, k);
      const g = <i32>load<u8>(y + <usize>(2 * ib + k)) + <i32>((qh << (8 - 4 * k)) & 0x700);
      for (let j = 0; j < 8; j++) {
        const w = ldf(wb, 8 * k + j);
        const q = ldf(xx, digit(g, j)) * f;
        sumqx += w * q * ldf(xb, 8 * k + j);
        sumq2 += w * q * q;
      }
    }
  }
  if (sumq2 > 0) d = sumqx / sumq2;
  const s16 = <u32>fp32ToFp16(d * <f32>1.1125);
  store<u16>(sc, <u16>(<u32>load<u16>(sc) | ((s16 & 0x000f) << 12)));
  store<u16>(sc + 2, <u16>(<u32>load<u16>(sc + 2) | ((s16 & 0x00f0) << 8)));
  store<u16>(sc + 4, <u16>(<u32>load<u16>(sc + 4) | ((s16 & 0x0f00) << 4)));
  store<u16>(sc + 6, <u16>(<u32>load<u16>(sc + 6) | (s16 & 0xf000)));
}

export function quantize_iq1_m(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  iq1Init();
  aborted = false;
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      if (nonFinite(x, 256) >= 0) return r * ncols + (ibl << 8);
      iq1mSuper(x, dst + (<usize>(r * nblock + ibl)) * 56, qw ? qw + (<usize>ibl << 10) : 0);
      if (aborted) return ABORTS - (r * ncols + (ibl << 8));
    }
  }
  return -1;
}

export function dequantize_iq1_m(src: usize, dst: usize, n: i32): void {
  iq1InitDequant();
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const sc = src + 48;
    const s0 = <u32>load<u16>(sc), s1 = <u32>load<u16>(sc, 2), s2 = <u32>load<u16>(sc, 4), s3 = <u32>load<u16>(sc, 6);
    const d = fp16ToFp32(<u16>((s0 >> 12) | ((s1 >> 8) & 0x00f0) | ((s2 >> 4) & 0x0f00) | (s3 & 0xf000)));
    for (let ib: usize = 0; ib < 8; ib++) {
      const s = <i32>load<u16>(sc + ((ib >> 1) << 1)) >> (6 * <i32>(ib & 1));
      const dl1 = f32x4.splat(d * <f32>((s & 7) * 2 + 1));
      const dl2 = f32x4.splat(d * <f32>(((s >> 3) & 7) * 2 + 1));
      const qh = <i32>load<u16>(src + 32 + (ib << 1)); // qh[0] | qh[1] << 8
      const q = load<u32>(src + (ib << 2));
      put8(dst, <i32>(q & 255) | ((qh << 8) & 0x700), dl1, (qh << 2) & 32);
      put8(dst + 32, <i32>((q >> 8) & 255) | ((qh << 4) & 0x700), dl1, (qh >> 2) & 32);
      put8(dst + 64, <i32>((q >> 16) & 255) | (qh & 0x700), dl2, (qh >> 6) & 32);
      put8(dst + 96, <i32>(q >> 24) | ((qh >> 4) & 0x700), dl2, (qh >> 10) & 32);
      dst += 128;
    }
    src += 56;
  }
}
