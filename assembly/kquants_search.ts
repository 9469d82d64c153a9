// SIMD versions of the K-quant scale searches (kutil.ts): lane k of every
// vector belongs to one sub-block, so each lane performs exactly the scalar C
// sequence of f32 operations (same order, no reassociation) and the result is
// bit-identical. Data-dependent branches of the C code become per-lane masks
// (v128.bitselect); a lane that would have returned early simply has its
// results replaced at the end. qkxSearch8/qxSearch8 run two groups of four
// sub-blocks interleaved (more independent add chains in flight);
// q3Search4 one group.
//
// Layout ("transposed"): element i of a group of four sub-blocks is the v128
// at X + 16*i (lane k = sub-block k); the next group follows after n vectors.
// Level outputs LT are f32 per lane too.

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
 * for 8 sub-blocks: two groups of 4 (group B right after group A, n vectors
 * each) run interleaved, which doubles the independent dependency chains.
 * X, W: transposed inputs; LT gets the chosen levels (f32, 0..nmax); Laux is
 * 2*n*16 bytes of scratch. Writes the 8 scales to out[0..7] and the 8 mins
 * (-min, as C's the_min) to out[8..15] (f32).
 */
export function qkxSearch8(
  n: i32, nmax: i32, X: usize, W: usize, LT: usize, Laux: usize, out: usize,
  rmin: f32, rdelta: f32, nstep: i32, useMad: bool, v3: bool,
): void {
  const zero = f32x4.splat(0);
  const B = <usize>n << 4; // byte offset of group B
  let minA = ld(X, 0), minB = v128.load(X + B);
  let maxA = minA, maxB = minB;
  let sumWA = ld(W, 0), sumWB = v128.load(W + B);
  let sumXA = f32x4.mul(sumWA, minA), sumXB = f32x4.mul(sumWB, minB);
  for (let i = 1; i < n; ++i) {
    const xa = ld(X, i), xb = ld(X + B, i);
    minA = f32x4.pmin(minA, xa); // if (x < min) min = x
    minB = f32x4.pmin(minB, xb);
    maxA = f32x4.pmax(maxA, xa); // if (x > max) max = x
    maxB = f32x4.pmax(maxB, xb);
    const wa = ld(W, i), wb = ld(W + B, i);
    sumWA = f32x4.add(sumWA, wa);
    sumWB = f32x4.add(sumWB, wb);
    sumXA = f32x4.add(sumXA, f32x4.mul(wa, xa));
    sumXB = f32x4.add(sumXB, f32x4.mul(wb, xb));
  }
  minA = f32x4.pmin(minA, zero); // if (min > 0) min = 0
  minB = f32x4.pmin(minB, zero);
  const min0A = minA, min0B = minB;
  const deadA = v3 ? f32x4.le(maxA, minA) : f32x4.eq(maxA, minA);
  const deadB = v3 ? f32x4.le(maxB, minB) : f32x4.eq(maxB, minB);
  const fnmax = <f32>nmax;
  const vnmax = f32x4.splat(fnmax);
  const one = f32x4.splat(1);
  let iscaleA = f32x4.div(vnmax, f32x4.sub(maxA, minA));
  let iscaleB = f32x4.div(vnmax, f32x4.sub(maxB, minB));
  let scaleA = f32x4.div(one, iscaleA), scaleB = f32x4.div(one, iscaleB);
  let bestA = zero, bestB = zero;
  for (let i = 0; i < n; ++i) {
    const xa = ld(X, i), xb = ld(X + B, i);
    const la = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleA, f32x4.sub(xa, minA))), 0, nmax));
    const lb = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleB, f32x4.sub(xb, minB))), 0, nmax));
    st(LT, i, la);
    st(LT + B, i, lb);
    let da = f32x4.sub(f32x4.add(f32x4.mul(scaleA, la), minA), xa);
    let db = f32x4.sub(f32x4.add(f32x4.mul(scaleB, lb), minB), xb);
    da = useMad ? f32x4.abs(da) : f32x4.mul(da, da);
    db = useMad ? f32x4.abs(db) : f32x4.mul(db, db);
    bestA = f32x4.add(bestA, f32x4.mul(ld(W, i), da));
    bestB = f32x4.add(bestB, f32x4.mul(ld(W + B, i), db));
  }
  if (nstep >= 1) {
    for (let is = 0; is <= nstep; ++is) {
      const num = f32x4.splat(rmin + rdelta * <f32>is + fnmax);
      iscaleA = f32x4.div(num, f32x4.sub(maxA, minA));
      iscaleB = f32x4.div(num, f32x4.sub(maxB, minB));
      let sLA = zero, sL2A = zero, sXLA = zero;
      let sLB = zero, sL2B = zero, sXLB = zero;
      if (v3) {
        for (let i = 0; i < n; ++i) {
          const xa = ld(X, i), xb = ld(X + B, i);
          const va = f32x4.mul(iscaleA, f32x4.sub(xa, minA));
          const vb = f32x4.mul(iscaleB, f32x4.sub(xb, minB));
          // v > 0 ? nearest_int(MIN(v, nmax)) : 0
          const la = f32x4.convert_i32x4_s(v128.and(nearestV(f32x4.pmin(vnmax, va)), f32x4.gt(va, zero)));
          const lb = f32x4.convert_i32x4_s(v128.and(nearestV(f32x4.pmin(vnmax, vb)), f32x4.gt(vb, zero)));
          st(Laux, i, la);
          st(Laux + B, i, lb);
          const wla = f32x4.mul(ld(W, i), la), wlb = f32x4.mul(ld(W + B, i), lb);
          sLA = f32x4.add(sLA, wla);
          sLB = f32x4.add(sLB, wlb);
          sL2A = f32x4.add(sL2A, f32x4.mul(wla, la));
          sL2B = f32x4.add(sL2B, f32x4.mul(wlb, lb));
          sXLA = f32x4.add(sXLA, f32x4.mul(wla, xa));
          sXLB = f32x4.add(sXLB, f32x4.mul(wlb, xb));
        }
      } else {
        for (let i = 0; i < n; ++i) {
          const xa = ld(X, i), xb = ld(X + B, i);
          const la = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleA, f32x4.sub(xa, minA))), 0, nmax));
          const lb = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleB, f32x4.sub(xb, minB))), 0, nmax));
          st(Laux, i, la);
          st(Laux + B, i, lb);
          const wla = f32x4.mul(ld(W, i), la), wlb = f32x4.mul(ld(W + B, i), lb);
          sLA = f32x4.add(sLA, wla);
          sLB = f32x4.add(sLB, wlb);
          sL2A = f32x4.add(sL2A, f32x4.mul(wla, la));
          sL2B = f32x4.add(sL2B, f32x4.mul(wlb, lb));
          sXLA = f32x4.add(sXLA, f32x4.mul(wla, xa));
          sXLB = f32x4.add(sXLB, f32x4.mul(wlb, xb));
        }
      }
      const DA = f32x4.sub(f32x4.mul(sumWA, sL2A), f32x4.mul(sLA, sLA));
      const DB = f32x4.sub(f32x4.mul(sumWB, sL2B), f32x4.mul(sLB, sLB));
      const okA = f32x4.gt(DA, zero), okB = f32x4.gt(DB, zero);
      if (!v128.any_true(v128.or(okA, okB))) continue;
      let tsA = f32x4.div(f32x4.sub(f32x4.mul(sumWA, sXLA), f32x4.mul(sumXA, sLA)), DA);
      let tsB = f32x4.div(f32x4.sub(f32x4.mul(sumWB, sXLB), f32x4.mul(sumXB, sLB)), DB);
      let tmA = f32x4.div(f32x4.sub(f32x4.mul(sL2A, sumXA), f32x4.mul(sLA, sXLA)), DA);
      let tmB = f32x4.div(f32x4.sub(f32x4.mul(sL2B, sumXB), f32x4.mul(sLB, sXLB)), DB);
      const posA = f32x4.gt(tmA, zero), posB = f32x4.gt(tmB, zero);
      tmA = v128.bitselect(zero, tmA, posA);
      tmB = v128.bitselect(zero, tmB, posB);
      tsA = v128.bitselect(f32x4.div(sXLA, sL2A), tsA, posA);
      tsB = v128.bitselect(f32x4.div(sXLB, sL2B), tsB, posB);
      let errA = zero, errB = zero;
      if (useMad) {
        for (let i = 0; i < n; ++i) {
          const da = f32x4.sub(f32x4.add(f32x4.mul(tsA, ld(Laux, i)), tmA), ld(X, i));
          const db = f32x4.sub(f32x4.add(f32x4.mul(tsB, ld(Laux + B, i)), tmB), ld(X + B, i));
          errA = f32x4.add(errA, f32x4.mul(ld(W, i), f32x4.abs(da)));
          errB = f32x4.add(errB, f32x4.mul(ld(W + B, i), f32x4.abs(db)));
        }
      } else {
        for (let i = 0; i < n; ++i) {
          const da = f32x4.sub(f32x4.add(f32x4.mul(tsA, ld(Laux, i)), tmA), ld(X, i));
          const db = f32x4.sub(f32x4.add(f32x4.mul(tsB, ld(Laux + B, i)), tmB), ld(X + B, i));
          errA = f32x4.add(errA, f32x4.mul(ld(W, i), f32x4.mul(da, da)));
          errB = f32x4.add(errB, f32x4.mul(ld(W + B, i), f32x4.mul(db, db)));
        }
      }
      const betterA = v128.and(okA, f32x4.lt(errA, bestA));
      const betterB = v128.and(okB, f32x4.lt(errB, bestB));
      if (v128.any_true(betterA)) {
        for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(ld(Laux, i), ld(LT, i), betterA));
        bestA = v128.bitselect(errA, bestA, betterA);
        scaleA = v128.bitselect(tsA, scaleA, betterA);
        minA = v128.bitselect(tmA, minA, betterA);
      }
      if (v128.any_true(betterB)) {
        for (let i = 0; i < n; ++i) st(LT + B, i, v128.bitselect(ld(Laux + B, i), ld(LT + B, i), betterB));
        bestB = v128.bitselect(errB, bestB, betterB);
        scaleB = v128.bitselect(tsB, scaleB, betterB);
        minB = v128.bitselect(tmB, minB, betterB);
      }
    }
  }
  // Lanes whose C call returned early: L = 0, scale 0, the_min = -min.
  if (v128.any_true(deadA)) {
    for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(zero, ld(LT, i), deadA));
    scaleA = v128.bitselect(zero, scaleA, deadA);
    minA = v128.bitselect(min0A, minA, deadA);
  }
  if (v128.any_true(deadB)) {
    for (let i = 0; i < n; ++i) st(LT + B, i, v128.bitselect(zero, ld(LT + B, i), deadB));
    scaleB = v128.bitselect(zero, scaleB, deadB);
    minB = v128.bitselect(min0B, minB, deadB);
  }
  v128.store(out, scaleA);
  v128.store(out, scaleB, 16);
  v128.store(out, f32x4.neg(minA), 32);
  v128.store(out, f32x4.neg(minB), 48);
}

/**
 * make_qx_quants(n, nmax, x, L, rmse_type = 1, weights) for 8 sub-blocks (two
 * groups of 4, interleaved as in qkxSearch8). W holds the weights (x^2 when
 * C's qw is NULL, computed by the caller). LT gets the final levels
 * L = l + nmax (0 for an all-zero lane) as f32; the 8 scales go to out[0..7].
 */
export function qxSearch8(n: i32, nmax: i32, X: usize, W: usize, LT: usize, Laux: usize, out: usize): void {
  const zero = f32x4.splat(0);
  const B = <usize>n << 4;
  let amaxA = zero, amaxB = zero, maxA = zero, maxB = zero;
  for (let i = 0; i < n; ++i) {
    const xa = ld(X, i), xb = ld(X + B, i);
    const axa = f32x4.abs(xa), axb = f32x4.abs(xb);
    const ma = f32x4.gt(axa, amaxA), mb = f32x4.gt(axb, amaxB);
    amaxA = v128.bitselect(axa, amaxA, ma);
    amaxB = v128.bitselect(axb, amaxB, mb);
    maxA = v128.bitselect(xa, maxA, ma);
    maxB = v128.bitselect(xb, maxB, mb);
  }
  const eps = f32x4.splat(1e-15);
  const zA = f32x4.lt(amaxA, eps), zB = f32x4.lt(amaxB, eps);
  const nm = f32x4.splat(<f32>(-nmax));
  let iscaleA = f32x4.div(nm, maxA), iscaleB = f32x4.div(nm, maxB);
  let lxA = zero, l2A = zero, lxB = zero, l2B = zero;
  for (let i = 0; i < n; ++i) {
    const xa = ld(X, i), xb = ld(X + B, i);
    const la = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleA, xa)), -nmax, nmax - 1));
    const lb = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleB, xb)), -nmax, nmax - 1));
    st(LT, i, la);
    st(LT + B, i, lb);
    const wa = ld(W, i), wb = ld(W + B, i);
    lxA = f32x4.add(lxA, f32x4.mul(f32x4.mul(wa, xa), la));
    lxB = f32x4.add(lxB, f32x4.mul(f32x4.mul(wb, xb), lb));
    l2A = f32x4.add(l2A, f32x4.mul(f32x4.mul(wa, la), la));
    l2B = f32x4.add(l2B, f32x4.mul(f32x4.mul(wb, lb), lb));
  }
  // scale = suml2 ? sumlx/suml2 : 0 (NaN counts as true, as in C)
  let scaleA = v128.bitselect(f32x4.div(lxA, l2A), zero, f32x4.ne(l2A, zero));
  let scaleB = v128.bitselect(f32x4.div(lxB, l2B), zero, f32x4.ne(l2B, zero));
  let bestA = f32x4.mul(scaleA, lxA), bestB = f32x4.mul(scaleB, lxB);
  for (let is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const num = f32x4.splat(-(<f32>nmax + <f32>0.1 * <f32>is));
    iscaleA = f32x4.div(num, maxA);
    iscaleB = f32x4.div(num, maxB);
    lxA = zero; l2A = zero; lxB = zero; l2B = zero;
    for (let i = 0; i < n; ++i) {
      const xa = ld(X, i), xb = ld(X + B, i);
      const la = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleA, xa)), -nmax, nmax - 1));
      const lb = f32x4.convert_i32x4_s(clampV(nearestV(f32x4.mul(iscaleB, xb)), -nmax, nmax - 1));
      st(Laux, i, la);
      st(Laux + B, i, lb);
      const wa = ld(W, i), wb = ld(W + B, i);
      lxA = f32x4.add(lxA, f32x4.mul(f32x4.mul(wa, xa), la));
      lxB = f32x4.add(lxB, f32x4.mul(f32x4.mul(wb, xb), lb));
      l2A = f32x4.add(l2A, f32x4.mul(f32x4.mul(wa, la), la));
      l2B = f32x4.add(l2B, f32x4.mul(f32x4.mul(wb, lb), lb));
    }
    const betterA = v128.and(f32x4.gt(l2A, zero), f32x4.gt(f32x4.mul(lxA, lxA), f32x4.mul(bestA, l2A)));
    const betterB = v128.and(f32x4.gt(l2B, zero), f32x4.gt(f32x4.mul(lxB, lxB), f32x4.mul(bestB, l2B)));
    if (v128.any_true(betterA)) {
      for (let i = 0; i < n; ++i) st(LT, i, v128.bitselect(ld(Laux, i), ld(LT, i), betterA));
      scaleA = v128.bitselect(f32x4.div(lxA, l2A), scaleA, betterA);
      bestA = v128.bitselect(f32x4.mul(scaleA, lxA), bestA, betterA);
    }
    if (v128.any_true(betterB)) {
      for (let i = 0; i < n; ++i) st(LT + B, i, v128.bitselect(ld(Laux + B, i), ld(LT + B, i), betterB));
      scaleB = v128.bitselect(f32x4.div(lxB, l2B), scaleB, betterB);
      bestB = v128.bitselect(f32x4.mul(scaleB, lxB), bestB, betterB);
    }
  }
  const off = f32x4.splat(<f32>nmax);
  for (let i = 0; i < n; ++i) {
    st(LT, i, v128.bitselect(zero, f32x4.add(ld(LT, i), off), zA));
    st(LT + B, i, v128.bitselect(zero, f32x4.add(ld(LT + B, i), off), zB));
  }
  v128.store(out, v128.bitselect(zero, scaleA, zA));
  v128.store(out, v128.bitselect(zero, scaleB, zB), 16);
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
