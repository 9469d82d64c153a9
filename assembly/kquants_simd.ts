// Shared pieces of the fast K-quant kernels: per-call scratch, the transposed
// layout the SIMD searches use (kquants_search.ts), and vectorized
// requantization of a sub-block against its final stored scale. All of it is
// elementwise or lane-wise, so results equal the scalar C bit for bit.
import { clampV, nearestV } from "./kquants_search";

// Scratch for one super-block (the module is single threaded).
export const XT: usize = memory.data(1024, 16); // x, transposed
export const WT: usize = memory.data(1024, 16); // weights, transposed
export const QWT: usize = memory.data(1024, 16); // imatrix slice, transposed
export const LT: usize = memory.data(1024, 16); // search levels (f32), transposed
export const LAUX: usize = memory.data(1024, 16); // trial levels of two groups
export const LB: usize = memory.data(256, 16); // final levels, u8, natural order
export const SC: usize = memory.data(64, 16); // sub-block scales
export const MN: usize = memory.data(64, 16); // sub-block mins (the_min)
export const SW: usize = memory.data(64, 16); // sub-block weight sums
export const LS: usize = memory.data(16, 16); // quantized scales (u8/i8)
export const LM: usize = memory.data(16, 16); // quantized mins (u8)
export const OUT: usize = memory.data(64, 16); // search results of two groups: 8 scales, 8 mins

/** y[0..15] = d * float(byte - off) - m, for the 16 bytes of v (off 0: unsigned levels). */
// @ts-ignore: decorator
@inline export function emit16(y: usize, v: v128, off: i32, d: v128, m: v128, sub: bool): void {
  const w0 = i16x8.extend_low_i8x16_u(v);
  const w1 = i16x8.extend_high_i8x16_u(v);
  let ia = i32x4.extend_low_i16x8_u(w0), ib = i32x4.extend_high_i16x8_u(w0);
  let ic = i32x4.extend_low_i16x8_u(w1), ie = i32x4.extend_high_i16x8_u(w1);
  if (off != 0) { // constant after inlining
    const o = i32x4.splat(off);
    ia = i32x4.sub(ia, o); ib = i32x4.sub(ib, o); ic = i32x4.sub(ic, o); ie = i32x4.sub(ie, o);
  }
  let a = f32x4.mul(d, f32x4.convert_i32x4_s(ia));
  let b = f32x4.mul(d, f32x4.convert_i32x4_s(ib));
  let c = f32x4.mul(d, f32x4.convert_i32x4_s(ic));
  let e = f32x4.mul(d, f32x4.convert_i32x4_s(ie));
  if (sub) { a = f32x4.sub(a, m); b = f32x4.sub(b, m); c = f32x4.sub(c, m); e = f32x4.sub(e, m); }
  v128.store(y, a);
  v128.store(y, b, 16);
  v128.store(y, c, 32);
  v128.store(y, e, 48);
}

/** x (256 f32, sub-blocks of n) -> out: groups of 4 sub-blocks, element i of the group at out + 16*(g*n + i). */
export function transpose(x: usize, n: i32, out: usize): void {
  const groups = 64 / n;
  for (let g = 0; g < groups; ++g) {
    for (let i = 0; i < n; ++i) {
      const src = x + (<usize>(4 * g * n + i) << 2);
      const nb = <usize>n << 2;
      const v = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(src)),
        1, load<f32>(src + nb)), 2, load<f32>(src + 2 * nb)), 3, load<f32>(src + 3 * nb));
      v128.store(out + (<usize>(g * n + i) << 4), v);
    }
  }
}

/** sum of x[j]^2 over the 256 values of a super-block, in order (C's scalar loop). */
export function sumSquares256(x: usize): f32 {
  let s: f32 = 0;
  for (let j = 0; j < 256; ++j) {
    const v = load<f32>(x + (<usize>j << 2));
    s += v * v;
  }
  return s;
}

/** Lane-wise sequential sum over the n transposed weights of group g -> SW[4g..4g+3]. */
export function sumWeights(W: usize, n: i32, g: i32): void {
  let s = f32x4.splat(0);
  for (let i = 0; i < n; ++i) s = f32x4.add(s, v128.load(W + (<usize>i << 4)));
  v128.store(SW + (<usize>g << 4), s);
}

/** W = qw * sqrt(sigma2 + x*x) on the transposed group (the imatrix weights of Q2_K..Q5_K). */
export function imatrixWeights(X: usize, QW: usize, W: usize, n: i32, sigma2: f32): void {
  const s2 = f32x4.splat(sigma2);
  for (let i = 0; i < n; ++i) {
    const o = <usize>i << 4;
    const xi = v128.load(X + o);
    v128.store(W + o, f32x4.mul(v128.load(QW + o), f32x4.sqrt(f32x4.add(s2, f32x4.mul(xi, xi)))));
  }
}

// @ts-ignore: decorator
@inline function store16(dst: usize, a: v128, b: v128, c: v128, d: v128): void {
  v128.store(dst, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
}

/**
 * Asymmetric requantization of sub-block j (n = 16 or 32 values at x + 4*n*j):
 * LB[n*j + i] = MAX(0, MIN(nmax, nearest_int((x + dm)/d))).
 */
export function requantAsym(x: usize, j: i32, n: i32, d: f32, dm: f32, nmax: i32): void {
  const vd = f32x4.splat(d);
  const vm = f32x4.splat(dm);
  const base = <usize>(n * j);
  for (let i = 0; i < n; i += 16) {
    const p = x + ((base + <usize>i) << 2);
    const a = clampV(nearestV(f32x4.div(f32x4.add(v128.load(p), vm), vd)), 0, nmax);
    const b = clampV(nearestV(f32x4.div(f32x4.add(v128.load(p, 16), vm), vd)), 0, nmax);
    const c = clampV(nearestV(f32x4.div(f32x4.add(v128.load(p, 32), vm), vd)), 0, nmax);
    const e = clampV(nearestV(f32x4.div(f32x4.add(v128.load(p, 48), vm), vd)), 0, nmax);
    store16(LB + base + <usize>i, a, b, c, e);
  }
}

/**
 * Symmetric requantization of sub-block j (16 values):
 * LB[16*j + i] = MAX(lo, MIN(hi, nearest_int(x/d))) - lo.
 */
export function requantSym16(x: usize, j: i32, d: f32, lo: i32, hi: i32): void {
  const vd = f32x4.splat(d);
  const off = i32x4.splat(-lo);
  const p = x + (<usize>(16 * j) << 2);
  const a = i32x4.add(clampV(nearestV(f32x4.div(v128.load(p), vd)), lo, hi), off);
  const b = i32x4.add(clampV(nearestV(f32x4.div(v128.load(p, 16), vd)), lo, hi), off);
  const c = i32x4.add(clampV(nearestV(f32x4.div(v128.load(p, 32), vd)), lo, hi), off);
  const e = i32x4.add(clampV(nearestV(f32x4.div(v128.load(p, 48), vd)), lo, hi), off);
  store16(LB + <usize>(16 * j), a, b, c, e);
}

/** Sub-block j keeps the levels its search chose (C: `if (!d) continue;`): LT (transposed f32) -> LB. */
export function keepSearchLevels(j: i32, n: i32): void {
  const g = j >> 2;
  const k = j & 3;
  for (let i = 0; i < n; ++i) {
    const v = load<f32>(LT + (<usize>((g * n + i) * 4 + k) << 2));
    store<u8>(LB + <usize>(n * j + i), <u8><i32>v);
  }
}
