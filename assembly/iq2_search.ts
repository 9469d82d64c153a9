// Shared pieces of the IQ2 quantizers (assembly/iq2.ts): the sign split of a
// group of 8, the key of a trial scale, the neighbour search and the
// weighted sums, each computing exactly ggml's float operations in ggml's
// order (f32, no FMA; only independent products run side by side in lanes).
import { nearestInt } from "./common";

/** Sums of the last sums() call (AssemblyScript returns one value). */
export let gSumqx: f32 = 0;
export let gSumq2: f32 = 0;


// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/**
 * xval = |x| of the 8 values at xb and their sign bits. With parity (IQ2_XXS,
 * IQ2_XS: only 7 signs are stored, the 8th is their parity) an odd number of
 * negatives flips the value with the smallest w*x*x (the first one on ties)
 * back to negative and toggles its bit. Returns the sign byte (7 bits with parity).
 */
export function splitSigns(xb: usize, w: usize, xv: usize, parity: bool): u32 {
  let s: u32 = 0;
  let nflip = 0;
  for (let i = 0; i < 8; i++) {
    const v = ldf(xb, i);
    if (v >= 0) store<f32>(xv + (<usize>i << 2), v);
    else {
      store<f32>(xv + (<usize>i << 2), -v);
      nflip++;
      s |= (<u32>1) << i;
    }
  }
  if (parity && (nflip & 1)) {
    let imin = 0;
    let min: f32 = ldf(w, 0) * ldf(xb, 0) * ldf(xb, 0);
    for (let i = 1; i < 8; i++) {
      const ax: f32 = ldf(w, i) * ldf(xb, i) * ldf(xb, i);
      if (ax < min) {
        min = ax;
        imin = i;
      }
    }
    store<f32>(xv + (<usize>imin << 2), -ldf(xv, imin));
    s ^= (<u32>1) << imin;
    return s & 127;
  }
  return parity ? s & 127 : s;
}

/**
 * The grid key of 8 values for inverse scale id: levels
 * l_i = clamp(nearest_int(0.5*(id*x_i - 1)), 0, 2), key sum l_i*3^i (C evaluates
 * 0.5f*(id*xval-1) in f32; nearest_int is the 1.5*2^23 bit trick, here on 4 lanes).
 */
// @ts-ignore: decorator
@inline export function trialKey(xv: usize, id: f32): i32 {
  const idv = f32x4.splat(id);
  const half = f32x4.splat(0.5);
  const one = f32x4.splat(1);
  const magic = f32x4.splat(12582912.0);
  const mant = i32x4.splat(0x007fffff);
  const bias = i32x4.splat(0x00400000);
  const zero = i32x4.splat(0);
  const two = i32x4.splat(2);
  let a = f32x4.add(f32x4.mul(half, f32x4.sub(f32x4.mul(idv, v128.load(xv)), one)), magic);
  let b = f32x4.add(f32x4.mul(half, f32x4.sub(f32x4.mul(idv, v128.load(xv, 16)), one)), magic);
  a = i32x4.max_s(i32x4.min_s(i32x4.sub(v128.and(a, mant), bias), two), zero);
  b = i32x4.max_s(i32x4.min_s(i32x4.sub(v128.and(b, mant), bias), two), zero);
  let k = i32x4.add(i32x4.mul(a, i32x4(1, 3, 9, 27)), i32x4.mul(b, i32x4(81, 243, 729, 2187)));
  k = i32x4.add(k, i8x16.shuffle(k, k, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  k = i32x4.add(k, i8x16.shuffle(k, k, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
  return i32x4.extract_lane(k, 0);
}

/** Table t's floats picked by the byte offsets in lanes (idx: 4*l per lane, byte 0 of each). */
// @ts-ignore: decorator
@inline function pick(t: v128, idx: v128): v128 {
  return i8x16.swizzle(t, i8x16.add(idx, i8x16(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3)));
}

/**
 * iq2_find_best_neighbour: the list entry with the smallest
 * d2 = sum_i w_i*(scale*q_i - x_i)^2 (i = 0..7 in order, first strict minimum
 * below FLT_MAX). A term depends only on coordinate i and its level l, so the
 * 3 possible terms of each coordinate (same f32 operations as C) go into one
 * table vector t_i; 4 neighbours then sum their terms in 4 lanes, each lane
 * in C's order, via byte swizzles of the tables. Each lane keeps its first
 * strict minimum; the lanes are merged by (value, position), which is the
 * first strict minimum of the whole list. Returns the grid index.
 */
export function bestNeighbour(neigh: usize, pk: usize, o: i32, xv: usize, wv: usize, scale: f32): i32 {
  // terms of levels 0, 1, 2 (q = 1, 3, 5) for coordinates 0..3 (lo) and 4..7 (hi)
  const x0 = v128.load(xv), x1 = v128.load(xv, 16);
  const w0 = v128.load(wv), w1 = v128.load(wv, 16);
  const s1 = f32x4.splat(scale * <f32>1), s3 = f32x4.splat(scale * <f32>3), s5 = f32x4.splat(scale * <f32>5);
  let d = f32x4.sub(s1, x0);
  const a0 = f32x4.mul(f32x4.mul(w0, d), d);
  d = f32x4.sub(s3, x0);
  const a1 = f32x4.mul(f32x4.mul(w0, d), d);
  d = f32x4.sub(s5, x0);
  const a2 = f32x4.mul(f32x4.mul(w0, d), d);
  d = f32x4.sub(s1, x1);
  const b0 = f32x4.mul(f32x4.mul(w1, d), d);
  d = f32x4.sub(s3, x1);
  const b1 = f32x4.mul(f32x4.mul(w1, d), d);
  d = f32x4.sub(s5, x1);
  const b2 = f32x4.mul(f32x4.mul(w1, d), d);
  // transposed to one table per coordinate: t_i = (term l=0, l=1, l=2, -)
  let lo = i8x16.shuffle(a0, a1, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  let hi = i8x16.shuffle(a0, a1, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  const t0 = i8x16.shuffle(lo, a2, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 16, 17, 18, 19);
  const t1 = i8x16.shuffle(lo, a2, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 20, 21, 22, 23);
  const t2 = i8x16.shuffle(hi, a2, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 24, 25, 26, 27);
  const t3 = i8x16.shuffle(hi, a2, 8, 9, 10, 11, 12, 13, 14, 15, 28, 29, 30, 31, 28, 29, 30, 31);
  lo = i8x16.shuffle(b0, b1, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  hi = i8x16.shuffle(b0, b1, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  const t4 = i8x16.shuffle(lo, b2, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 16, 17, 18, 19);
  const t5 = i8x16.shuffle(lo, b2, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 20, 21, 22, 23);
  const t6 = i8x16.shuffle(hi, b2, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 24, 25, 26, 27);
  const t7 = i8x16.shuffle(hi, b2, 8, 9, 10, 11, 12, 13, 14, 15, 28, 29, 30, 31, 28, 29, 30, 31);

  const list = neigh + (<usize>o << 1);
  const n = (<i32>load<u16>(list) + 3) & ~3;
  let best = f32x4.splat(f32.MAX_VALUE);
  let bestPos = i32x4.splat(-1);
  let pos = i32x4(0, 1, 2, 3);
  const zero = f32x4.splat(0);
  let p = pk + (<usize>(o + 4) << 3);
  const end = p + (<usize>n << 3);
  const end2 = end - 32;
  for (; p < end2; p += 64) {
    const a = v128.load(p);
    const b = v128.load(p, 16);
    let d2 = f32x4.add(zero, pick(t0, i8x16.shuffle(a, a, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    d2 = f32x4.add(d2, pick(t1, i8x16.shuffle(a, a, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
    d2 = f32x4.add(d2, pick(t2, i8x16.shuffle(a, a, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)));
    d2 = f32x4.add(d2, pick(t3, i8x16.shuffle(a, a, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)));
    d2 = f32x4.add(d2, pick(t4, i8x16.shuffle(b, b, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    d2 = f32x4.add(d2, pick(t5, i8x16.shuffle(b, b, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
    d2 = f32x4.add(d2, pick(t6, i8x16.shuffle(b, b, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)));
    d2 = f32x4.add(d2, pick(t7, i8x16.shuffle(b, b, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)));
    const lt = f32x4.lt(d2, best);
    best = v128.bitselect(d2, best, lt);
    bestPos = v128.bitselect(pos, bestPos, lt);
    pos = i32x4.add(pos, i32x4.splat(4));
    const a2 = v128.load(p, 32);
    const b2 = v128.load(p, 48);
    let e2 = f32x4.add(zero, pick(t0, i8x16.shuffle(a2, a2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    e2 = f32x4.add(e2, pick(t1, i8x16.shuffle(a2, a2, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
    e2 = f32x4.add(e2, pick(t2, i8x16.shuffle(a2, a2, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)));
    e2 = f32x4.add(e2, pick(t3, i8x16.shuffle(a2, a2, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)));
    e2 = f32x4.add(e2, pick(t4, i8x16.shuffle(b2, b2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    e2 = f32x4.add(e2, pick(t5, i8x16.shuffle(b2, b2, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
    e2 = f32x4.add(e2, pick(t6, i8x16.shuffle(b2, b2, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)));
    e2 = f32x4.add(e2, pick(t7, i8x16.shuffle(b2, b2, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)));
    const lt2 = f32x4.lt(e2, best);
    best = v128.bitselect(e2, best, lt2);
    bestPos = v128.bitselect(pos, bestPos, lt2);
    pos = i32x4.add(pos, i32x4.splat(4));
  }
  if (p < end) {
    const a = v128.load(p);
    const b = v128.load(p, 16);
    let d2 = f32x4.add(zero, pick(t0, i8x16.shuffle(a, a, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    d2 = f32x4.add(d2, pick(t1, i8x16.shuffle(a, a, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
    d2 = f32x4.add(d2, pick(t2, i8x16.shuffle(a, a, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)));
    d2 = f32x4.add(d2, pick(t3, i8x16.shuffle(a, a, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)));
    d2 = f32x4.add(d2, pick(t4, i8x16.shuffle(b, b, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    d2 = f32x4.add(d2, pick(t5, i8x16.shuffle(b, b, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
    d2 = f32x4.add(d2, pick(t6, i8x16.shuffle(b, b, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)));
    d2 = f32x4.add(d2, pick(t7, i8x16.shuffle(b, b, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)));
    const lt = f32x4.lt(d2, best);
    best = v128.bitselect(d2, best, lt);
    bestPos = v128.bitselect(pos, bestPos, lt);
    pos = i32x4.add(pos, i32x4.splat(4));
  }
  // first strict minimum: the smallest value, then the smallest position
  // among lanes holding it (-1, never set, is the largest unsigned)
  let m = f32x4.min(best, i8x16.shuffle(best, best, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  m = f32x4.min(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  let bp4 = v128.bitselect(bestPos, i32x4.splat(-1), f32x4.eq(best, m));
  bp4 = i32x4.min_u(bp4, i8x16.shuffle(bp4, bp4, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  bp4 = i32x4.min_u(bp4, i8x16.shuffle(bp4, bp4, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  let bp = i32x4.extract_lane(bp4, 0);
  // ggml asserts a winner; with finite input there always is one
  if (bp < 0) bp = 0;
  return <i32>load<u16>(list + 8 + (<usize>bp << 1));
}

/**
 * sumqx = sum w_i*x_i*q_i and sumq2 = sum w_i*q_i*q_i over ng groups of 8 in
 * C's order, q the coordinates (2l+1) of grid point g_k of group k (its QF row).
 * wx holds w_i*x_i (C's left-to-right product, the same every trial).
 */
// @ts-ignore: decorator
@inline export function sums(ng: i32, qf: usize, g: usize, w: usize, wx: usize): void {
  let sx: f32 = 0, s2: f32 = 0;
  for (let k = 0; k < ng; k++) {
    const q = qf + (<usize>load<i32>(g + (<usize>k << 2)) << 5);
    const o = <usize>k << 5;
    const q0 = v128.load(q), q1 = v128.load(q, 16);
    sx = seq4(seq4(sx, f32x4.mul(v128.load(wx + o), q0)), f32x4.mul(v128.load(wx + o, 16), q1));
    s2 = seq4(seq4(s2, f32x4.mul(f32x4.mul(v128.load(w + o), q0), q0)), f32x4.mul(f32x4.mul(v128.load(w + o, 16), q1), q1));
  }
  gSumqx = sx;
  gSumq2 = s2;
}

/** s + v[0] + v[1] + v[2] + v[3], left to right. */
// @ts-ignore: decorator
@inline function seq4(s: f32, v: v128): f32 {
  return s + f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * make_qp_quants(32, nmax, x, L, w) as IQ2_XXS calls it; returns only the
 * scale (IQ2_XXS recomputes the levels). L is uint8_t in C: a negative level
 * (the parity-flipped value is negative) wraps to 256+l and is read back so.
 */
const QPL: usize = memory.data(32, 16);
export function makeQpScale(n: i32, nmax: i32, x: usize, w: usize): f32 {
  let max: f32 = 0;
  for (let i = 0; i < n; i++) {
    const v = ldf(x, i);
    max = max > v ? max : v;
  }
  if (max < <f32>1e-15) return 0;
  const fnmax = <f32>nmax;
  const mx = f32x4.splat(max);
  // The first fit (iscale = nmax/max, levels stored as uint8_t, no MIN) and
  // the 8 trials is = -4..-1, 1..4 run side by side, one per lane; each lane
  // sums over i = 0..n-1 in C's order. Lanes: va = [fit, -4, -3, -2],
  // vb = [-1, 1, 2, 3], vc = [4, 4, 4, 4].
  const ia = f32x4.div(f32x4(fnmax, <f32>0.1 * <f32>-4 + fnmax, <f32>0.1 * <f32>-3 + fnmax, <f32>0.1 * <f32>-2 + fnmax), mx);
  const ib = f32x4.div(f32x4(<f32>0.1 * <f32>-1 + fnmax, <f32>0.1 * <f32>1 + fnmax, <f32>0.1 * <f32>2 + fnmax, <f32>0.1 * <f32>3 + fnmax), mx);
  const ic = f32x4.div(f32x4.splat(<f32>0.1 * <f32>4 + fnmax), mx);
  const one = f32x4.splat(1);
  const sa = f32x4.div(one, ia), sb = f32x4.div(one, ib), sc = f32x4.div(one, ic);
  const nm = i32x4.splat(nmax);
  const fitLane = i32x4(-1, 0, 0, 0);
  let ma = f32x4.splat(0), mb = ma, mc = ma;
  for (let i = 0; i < n; i++) {
    const xs = f32x4.splat(ldf(x, i));
    const ws = f32x4.splat(ldf(w, i));
    let l = nearestIntV(f32x4.mul(ia, xs));
    l = v128.bitselect(v128.and(l, i32x4.splat(255)), i32x4.min_s(l, nm), fitLane);
    let d = f32x4.sub(xs, f32x4.mul(sa, f32x4.convert_i32x4_s(l)));
    ma = f32x4.add(ma, f32x4.mul(f32x4.mul(ws, d), d));
    l = i32x4.min_s(nearestIntV(f32x4.mul(ib, xs)), nm);
    d = f32x4.sub(xs, f32x4.mul(sb, f32x4.convert_i32x4_s(l)));
    mb = f32x4.add(mb, f32x4.mul(f32x4.mul(ws, d), d));
    l = i32x4.min_s(nearestIntV(f32x4.mul(ic, xs)), nm);
    d = f32x4.sub(xs, f32x4.mul(sc, f32x4.convert_i32x4_s(l)));
    mc = f32x4.add(mc, f32x4.mul(f32x4.mul(ws, d), d));
  }
  let iscale = f32x4.extract_lane(ia, 0);
  let bestMse = f32x4.extract_lane(ma, 0);
  if (f32x4.extract_lane(ma, 1) < bestMse) { bestMse = f32x4.extract_lane(ma, 1); iscale = f32x4.extract_lane(ia, 1); }
  if (f32x4.extract_lane(ma, 2) < bestMse) { bestMse = f32x4.extract_lane(ma, 2); iscale = f32x4.extract_lane(ia, 2); }
  if (f32x4.extract_lane(ma, 3) < bestMse) { bestMse = f32x4.extract_lane(ma, 3); iscale = f32x4.extract_lane(ia, 3); }
  if (f32x4.extract_lane(mb, 0) < bestMse) { bestMse = f32x4.extract_lane(mb, 0); iscale = f32x4.extract_lane(ib, 0); }
  if (f32x4.extract_lane(mb, 1) < bestMse) { bestMse = f32x4.extract_lane(mb, 1); iscale = f32x4.extract_lane(ib, 1); }
  if (f32x4.extract_lane(mb, 2) < bestMse) { bestMse = f32x4.extract_lane(mb, 2); iscale = f32x4.extract_lane(ib, 2); }
  if (f32x4.extract_lane(mb, 3) < bestMse) { bestMse = f32x4.extract_lane(mb, 3); iscale = f32x4.extract_lane(ib, 3); }
  if (f32x4.extract_lane(mc, 0) < bestMse) { iscale = f32x4.extract_lane(ic, 0); }
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(iscale * ldf(x, i));
    l = l < nmax ? l : nmax;
    store<u8>(QPL + i, <u8>l);
    const wi = ldf(w, i);
    sumlx += wi * ldf(x, i) * <f32>l;
    suml2 += wi * <f32>l * <f32>l;
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const wi = ldf(w, i);
      const xi = ldf(x, i);
      const li = <i32>load<u8>(QPL + i);
      let slx: f32 = sumlx - wi * xi * <f32>li;
      let sl2: f32 = suml2 - wi * <f32>li * <f32>li;
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(xi * sl2 / slx);
        newL = newL < nmax ? newL : nmax;
        if (newL != li) {
          slx += wi * xi * <f32>newL;
          sl2 += wi * <f32>newL * <f32>newL;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<u8>(QPL + i, <u8>newL);
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0;
}

/** ggml's nearest_int on 4 lanes (the 1.5*2^23 bit trick). */
// @ts-ignore: decorator
@inline function nearestIntV(v: v128): v128 {
  return i32x4.sub(v128.and(f32x4.add(v, f32x4.splat(12582912.0)), i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
}
