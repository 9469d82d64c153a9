// SIMD versions of the K-quant scale searches (kutil.ts), four sub-blocks at
// a time: lane k of every vector belongs to sub-block k of a group, so each
// lane performs exactly the scalar C sequence of f32 operations (same order,
// no reassociation) and the result is bit-identical. Data-dependent branches
// of the C code become per-lane masks (v128.bitselect); a lane that would
// have returned early simply has its results replaced at the end.
//
// Layout ("transposed"): element i of the four sub-blocks is the v128 at
// X + 16*i (lane k = sub-block k). Level outputs LT are f32 per lane too.

/** ggml's nearest_int on four lanes (round half to even via 1.5*2^23). */
// @ts-ignore: decorator
@inline export function nearestV(v: v128): v128 {
  const t = f32x4.add(v, f32x4.splat(12582912.0));
  return i32x4.sub(v128.and(t, i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
}

/** MAX(lo, MIN(hi, l)) on i32 lanes. */
// @ts-ignore: decorator
@inline export function clampV(l: v128, lo: i32, hi: i32): v128 {
  return i32x4.max_s(i32x4.splat(lo), i32x4.min_s(i32x4.splat(hi), l));
}

// @ts-ignore: decorator
@inline function ld(p: usize, i: i32): v128 { return v128.load(p + (<usize>i << 4)); }
// @ts-ignore: decorator
@inline function st(p: usize, i: i32, v: v128): void { v128.store(p + (<usize>i << 4), v); }

/**
 * make_qkx2_quants (v3 = false) / make_qkx3_quants with weights (v3 = true)
 * for 4 sub-blocks of n elements: X, W transposed inputs; LT gets the chosen
 * levels (f32, 0..nmax), Laux is n*16 bytes of scratch. Writes the scales
 * to out[0..3] and the mins (-min, as the C the_min) to out[4..7] (f32).
 */
export function qkxSearch4(
  n: i32, nmax: i32, X: usize, W: usize, LT: usize, Laux: usize, out: usize,
  rmin: f32, rdelta: f32, nstep: i32, useMad: bool, v3: bool,
): void {
  const zero = f32x4.splat(0);
  let min = ld(X, 0);
  let max = min;
  let sumW = ld(W, 0);
  let sumX = f32x4.mul(sumW, min);
  for (let i = 1; i < n; ++i) {
    const xi = ld(X, i);
    min = f32x4.pmin(min, xi); // if (x < min) min = x
    max = f32x4.pmax(max, xi); // if (x > max) max = x
    const w = ld(W, i);
    sumW = f32x4.add(sumW, w);
    sumX = f32x4.add(sumX, f32x4.mul(w, xi));
  }
  min = f32x4.pmin(min, zero); // if (min > 0) min = 0
  const min0 = min;
  const dead = v3 ? f32x4.le(max, min) : f32x4.eq(max, min);
  const fnmax = <f32>nmax;
  let iscale = f32x4.div(f32x4.splat(fnmax), f32x4.sub(max, min));
  let scale = f32x4.div(f32x4.splat(1), iscale);
  let best = zero;
  for (let i = 0; i < n; ++i) {
    const xi = ld(X, i);
    const lf = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscale, f32x4.sub(xi, min))), 0, nmax));
    st(LT, i, lf);
    let diff = f32x4.sub(f32x4.add(f32x4.mul(scale, lf), min), xi);
    diff = useMad ? f32x4.abs(diff) : f32x4.mul(diff, diff);
    best = f32x4.add(best, f32x4.mul(ld(W, i), diff));
  }
  if (nstep >= 1) {
    const vnmax = f32x4.splat(fnmax);
    for (let is = 0; is <= nstep; ++is) {
      iscale = f32x4.div(f32x4.splat(rmin + rdelta * <f32>is + fnmax), f32x4.sub(max, min));
      let sumL = zero, sumL2 = zero, sumXL = zero;
      if (v3) {
        for (let i = 0; i < n; ++i) {
          const xi = ld(X, i);
          const v = f32x4.mul(iscale, f32x4.sub(xi, min));
          // v > 0 ? nearest_int(MIN(v, nmax)) : 0
          const l = v128.and(nearestV(f32x4.pmin(vnmax, v)), f32x4.gt(v, zero));
          const lf = f32x4.convert_i32x4_s(l);
          st(Laux, i, lf);
          const wl = f32x4.mul(ld(W, i), lf);
          sumL = f32x4.add(sumL, wl);
          sumL2 = f32x4.add(sumL2, f32x4.mul(wl, lf));
          sumXL = f32x4.add(sumXL, f32x4.mul(wl, xi));
        }
      } else {
        for (let i = 0; i < n; ++i) {
          const xi = ld(X, i);
          const l = clampV(nearestV(f32x4.mul(iscale, f32x4.sub(xi, min))), 0, nmax);
          const lf = f32x4.convert_i32x4_s(l);
          st(Laux, i, lf);
          const wl = f32x4.mul(ld(W, i), lf);
          sumL = f32x4.add(sumL, wl);
          sumL2 = f32x4.add(sumL2, f32x4.mul(wl, lf));
          sumXL = f32x4.add(sumXL, f32x4.mul(wl, xi));
        }
      }
      const D = f32x4.sub(f32x4.mul(sumW, sumL2), f32x4.mul(sumL, sumL));
      const okD = f32x4.gt(D, zero);
      if (!v128.any_true(okD)) continue;
      let thisScale = f32x4.div(f32x4.sub(f32x4.mul(sumW, sumXL), f32x4.mul(sumX, sumL)), D);
      let thisMin = f32x4.div(f32x4.sub(f32x4.mul(sumL2, sumX), f32x4.mul(sumL, sumXL)), D);
      const pos = f32x4.gt(thisMin, zero);
      thisMin = v128.bitselect(zero, thisMin, pos);
      thisScale = v128.bitselect(f32x4.div(sumXL, sumL2), thisScale, pos);
      let err = zero;
      if (useMad) {
        for (let i = 0; i < n; ++i) {
          const diff = f32x4.sub(f32x4.add(f32x4.mul(thisScale, ld(Laux, i)), thisMin), ld(X, i));
          err = f32x4.add(err, f32x4.mul(ld(W, i), f32x4.abs(diff)));
        }
      } else {
        for (let i = 0; i < n; ++i) {
          const diff = f32x4.sub(f32x4.add(f32x4.mul(thisScale, ld(Laux, i)), thisMin), ld(X, i));
          err = f32x4.add(err, f32x4.mul(ld(W, i), f32x4.mul(diff, diff)));
        }
      }
      const better = v128.and(okD, f32x4.lt(err, best));
      if (!v128.any_true(better)) continue;
      for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(ld(Laux, i), ld(LT, i), better));
      best = v128.bitselect(err, best, better);
      scale = v128.bitselect(thisScale, scale, better);
      min = v128.bitselect(thisMin, min, better);
    }
  }
  if (v128.any_true(dead)) {
    for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(zero, ld(LT, i), dead));
    scale = v128.bitselect(zero, scale, dead);
    min = v128.bitselect(min0, min, dead);
  }
  v128.store(out, scale);
  v128.store(out + 16, f32x4.neg(min));
}

/**
 * make_qx_quants(n, nmax, x, L, rmse_type = 1, weights) for 4 sub-blocks:
 * W holds the weights (x^2 when C's qw is NULL, computed by the caller).
 * LT gets the final levels L = l + nmax (0 for an all-zero lane) as f32;
 * the scales go to out[0..3].
 */
export function qxSearch4(n: i32, nmax: i32, X: usize, W: usize, LT: usize, Laux: usize, out: usize): void {
  const zero = f32x4.splat(0);
  let amax = zero;
  let max = zero;
  for (let i = 0; i < n; ++i) {
    const xi = ld(X, i);
    const ax = f32x4.abs(xi);
    const m = f32x4.gt(ax, amax);
    amax = v128.bitselect(ax, amax, m);
    max = v128.bitselect(xi, max, m);
  }
  const allZero = f32x4.lt(amax, f32x4.splat(1e-15));
  let iscale = f32x4.div(f32x4.splat(<f32>(-nmax)), max);
  let sumlx = zero, suml2 = zero;
  for (let i = 0; i < n; ++i) {
    const xi = ld(X, i);
    const lf = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscale, xi)), -nmax, nmax - 1));
    st(LT, i, lf);
    const w = ld(W, i);
    sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, xi), lf));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, lf), lf));
  }
  // scale = suml2 ? sumlx/suml2 : 0 (NaN counts as true, as in C)
  let scale = v128.bitselect(f32x4.div(sumlx, suml2), zero, f32x4.ne(suml2, zero));
  let best = f32x4.mul(scale, sumlx);
  for (let is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = f32x4.div(f32x4.splat(-(<f32>nmax + <f32>0.1 * <f32>is)), max);
    sumlx = zero;
    suml2 = zero;
    for (let i = 0; i < n; ++i) {
      const xi = ld(X, i);
      const lf = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscale, xi)), -nmax, nmax - 1));
      st(Laux, i, lf);
      const w = ld(W, i);
      sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, xi), lf));
      suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, lf), lf));
    }
    const better = v128.and(f32x4.gt(suml2, zero), f32x4.gt(f32x4.mul(sumlx, sumlx), f32x4.mul(best, suml2)));
    if (!v128.any_true(better)) continue;
    for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(ld(Laux, i), ld(LT, i), better));
    scale = v128.bitselect(f32x4.div(sumlx, suml2), scale, better);
    best = v128.bitselect(f32x4.mul(scale, sumlx), best, better);
  }
  const off = f32x4.splat(<f32>nmax);
  for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(zero, f32x4.add(ld(LT, i), off), allZero));
  v128.store(out, v128.bitselect(zero, scale, allZero));
}

/**
 * make_q3_quants(n, nmax, x, L, do_rmse = true) for 4 sub-blocks: x^2
 * weighted coordinate descent, up to 5 rounds, each lane stopping after its
 * first round without a change. LT gets L = l + nmax (0 for an all-zero lane)
 * as f32; the scales go to out[0..3].
 */
export function q3Search4(n: i32, nmax: i32, X: usize, LT: usize, out: usize): void {
  const zero = f32x4.splat(0);
  let amax = zero;
  let max = zero;
  for (let i = 0; i < n; ++i) {
    const xi = ld(X, i);
    const ax = f32x4.abs(xi);
    const m = f32x4.gt(ax, amax);
    amax = v128.bitselect(ax, amax, m);
    max = v128.bitselect(xi, max, m);
  }
  const allZero = f32x4.lt(amax, f32x4.splat(1e-15));
  const iscale = f32x4.div(f32x4.splat(<f32>(-nmax)), max);
  let sumlx = zero, suml2 = zero;
  for (let i = 0; i < n; ++i) {
    const xi = ld(X, i);
    const l = clampV(nearestV(f32x4.mul(iscale, xi)), -nmax, nmax - 1);
    st(LT, i, l); // i32 levels during the descent
    const lf = f32x4.convert_i32x4_s(l);
    const w = f32x4.mul(xi, xi);
    sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, xi), lf));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, lf), lf));
  }
  let active = i32x4.splat(-1);
  for (let itry = 0; itry < 5; ++itry) {
    let changed = i32x4.splat(0);
    for (let i = 0; i < n; ++i) {
      const xi = ld(X, i);
      const w = f32x4.mul(xi, xi);
      const li = ld(LT, i);
      const lf = f32x4.convert_i32x4_s(li);
      const wx = f32x4.mul(w, xi);
      let slx = f32x4.sub(sumlx, f32x4.mul(wx, lf));
      const okSlx = f32x4.gt(slx, zero);
      let sl2 = f32x4.sub(suml2, f32x4.mul(f32x4.mul(w, lf), lf));
      const newL = clampV(nearestV(f32x4.div(f32x4.mul(xi, sl2), slx)), -nmax, nmax - 1);
      const diffL = v128.not(i32x4.eq(newL, li));
      const nf = f32x4.convert_i32x4_s(newL);
      slx = f32x4.add(slx, f32x4.mul(wx, nf));
      sl2 = f32x4.add(sl2, f32x4.mul(f32x4.mul(w, nf), nf));
      const gain = v128.and(f32x4.gt(sl2, zero),
        f32x4.gt(f32x4.mul(f32x4.mul(slx, slx), suml2), f32x4.mul(f32x4.mul(sumlx, sumlx), sl2)));
      const upd = v128.and(v128.and(active, okSlx), v128.and(diffL, gain));
      st(LT, i, v128.bitselect(newL, li, upd));
      sumlx = v128.bitselect(slx, sumlx, upd);
      suml2 = v128.bitselect(sl2, suml2, upd);
      changed = v128.or(changed, upd);
    }
    active = v128.and(active, changed);
    if (!v128.any_true(active)) break;
  }
  const off = i32x4.splat(nmax);
  for (let i = 0; i < n; ++i) {
    st(LT, i, v128.bitselect(zero, f32x4.convert_i32x4_s(i32x4.add(ld(LT, i), off)), allZero));
  }
  const scale = v128.bitselect(f32x4.div(sumlx, suml2), zero, f32x4.gt(suml2, zero));
  v128.store(out, v128.bitselect(zero, scale, allZero));
}
