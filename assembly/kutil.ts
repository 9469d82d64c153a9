// Shared scale-search routines of llama.cpp's K-quants and of the imatrix
// paths of Q4_0..Q5_1 (ggml-quants.c: make_qx_quants, make_qkx2_quants,
// make_qkx3_quants, make_qp_quants, make_q3_quants), scalar versions.
//
// Bit-exactness: every expression is evaluated in f32 in the same order as the
// C source (no FMA in WASM), int -> float conversions happen where C promotes,
// and MIN/MAX follow the macros' `a < b ? a : b` comparisons. Arrays live in
// linear memory; pointers are byte offsets. Quant arrays are u8 (or i8 where C
// uses int8_t): stores truncate to 8 bits exactly like the C assignments.
//
// The K-quant kernels use SIMD variants of these searches (one sub-block per
// lane, assembly/kquants_search.ts); these scalar ones are the reference and
// serve the per-32-block callers.
import { nearestInt } from "./common";

/** GROUP_MAX_EPS of ggml-quants.c: below this |max| a group counts as all zero. */
export const GROUP_MAX_EPS: f32 = 1e-15;

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function qxWeight(rmseType: i32, qw: usize, x: usize, i: i32): f32 {
  if (qw) return ldf(qw, i);
  const xi = ldf(x, i);
  if (rmseType == 1) return xi * xi;
  if (rmseType == 2) return 1;
  if (rmseType == 3) return Mathf.abs(xi);
  return Mathf.sqrt(Mathf.abs(xi));
}

/**
 * make_qx_quants: symmetric quantization of n floats at x to levels
 * -nmax..nmax-1, stored as L[i] = level + nmax (i8 at L). Returns the scale.
 * rmseType 0: plain rounding of -nmax/max; 1..4 (weights x^2, 1, |x|,
 * sqrt|x|, or qw when qw != 0): weighted least-squares refit over 19 trial
 * scales; negative rmseType returns early with the averaged first refit.
 */
export function makeQxQuants(n: i32, nmax: i32, x: usize, L: usize, rmseType: i32, qw: usize): f32 {
  let max: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const ax = Mathf.abs(ldf(x, i));
    if (ax > amax) { amax = ax; max = ldf(x, i); }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  let iscale: f32 = <f32>(-nmax) / max;
  if (rmseType == 0) {
    for (let i = 0; i < n; ++i) {
      let l = nearestInt(iscale * ldf(x, i));
      l = max_i(-nmax, min_i(nmax - 1, l));
      store<i8>(L + <usize>i, <i8>(nmax + l));
    }
    return <f32>1 / iscale;
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = ldf(x, i);
    let l = nearestInt(iscale * xi);
    l = max_i(-nmax, min_i(nmax - 1, l));
    store<i8>(L + <usize>i, <i8>(l + nmax));
    const w = qxWeight(rmseType, qw, x, i);
    const fl = <f32>l;
    sumlx += w * xi * fl;
    suml2 += w * fl * fl;
  }
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : <f32>0;
  if (returnEarly) return suml2 > 0 ? <f32>0.5 * (scale + <f32>1 / iscale) : <f32>1 / iscale;
  let best: f32 = scale * sumlx;
  for (let is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(<f32>nmax + <f32>0.1 * <f32>is) / max;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = ldf(x, i);
      let l = nearestInt(iscale * xi);
      l = max_i(-nmax, min_i(nmax - 1, l));
      const w = qxWeight(rmseType, qw, x, i);
      const fl = <f32>l;
      sumlx += w * xi * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; ++i) {
        const l = nearestInt(iscale * ldf(x, i));
        store<i8>(L + <usize>i, <i8>(nmax + max_i(-nmax, min_i(nmax - 1, l))));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

/**
 * make_qkx2_quants: asymmetric quantization of n floats at x to 0..nmax with
 * a min (x ~ scale*L + min, min <= 0), weights at `weights` (required).
 * Trial scales (rmin + rdelta*is + nmax)/(max-min), is = 0..nstep, each with a
 * weighted least-squares refit of scale and min; error is |diff| (useMad) or
 * diff^2. Writes L (u8), stores -min at theMin (f32), uses Laux (u8, n) as
 * scratch; returns the scale.
 */
export function makeQkx2Quants(
  n: i32, nmax: i32, x: usize, weights: usize, L: usize, theMin: usize, Laux: usize,
  rmin: f32, rdelta: f32, nstep: i32, useMad: bool,
): f32 {
  let min = ldf(x, 0);
  let max = min;
  let sumW = ldf(weights, 0);
  let sumX = sumW * ldf(x, 0);
  for (let i = 1; i < n; ++i) {
    const xi = ldf(x, i);
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = ldf(weights, i);
    sumW += w;
    sumX += w * xi;
  }
  if (min > 0) min = 0;
  if (max == min) {
    memory.fill(L, 0, <usize>n);
    store<f32>(theMin, -min);
    return 0;
  }
  let iscale: f32 = <f32>nmax / (max - min);
  let scale: f32 = <f32>1 / iscale;
  let bestError: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = ldf(x, i);
    const l = max_i(0, min_i(nmax, nearestInt(iscale * (xi - min))));
    store<u8>(L + <usize>i, <u8>l);
    let diff: f32 = scale * <f32>(l & 0xff) + min - xi;
    diff = useMad ? Mathf.abs(diff) : diff * diff;
    bestError += ldf(weights, i) * diff;
  }
  if (nstep < 1) {
    store<f32>(theMin, -min);
    return scale;
  }
  for (let is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * <f32>is + <f32>nmax) / (max - min);
    let sumL: f32 = 0, sumL2: f32 = 0, sumXL: f32 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = ldf(x, i);
      const l = max_i(0, min_i(nmax, nearestInt(iscale * (xi - min))));
      store<u8>(Laux + <usize>i, <u8>l);
      const w = ldf(weights, i);
      const fl = <f32>l;
      sumL += w * fl;
      sumL2 += w * fl * fl;
      sumXL += w * fl * xi;
    }
    const D: f32 = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale: f32 = (sumW * sumXL - sumX * sumL) / D;
      let thisMin: f32 = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      let curError: f32 = 0;
      for (let i = 0; i < n; ++i) {
        let diff: f32 = thisScale * <f32>load<u8>(Laux + <usize>i) + thisMin - ldf(x, i);
        diff = useMad ? Mathf.abs(diff) : diff * diff;
        curError += ldf(weights, i) * diff;
      }
      if (curError < bestError) {
        memory.copy(L, Laux, <usize>n);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  store<f32>(theMin, -min);
  return scale;
}

/**
 * make_qkx3_quants: like makeQkx2Quants, but weights may be 0 (null: x^2 is
 * used), an empty range is `max <= min`, and trial levels are computed as
 * `v > 0 ? nearest_int(MIN(v, nmax)) : 0` (safe when v is inf/NaN/huge).
 * The imatrix search for Q4_1/Q5_1/Q2_K/Q4_K/Q5_K (rmin -0.9, rdelta 0.05,
 * nstep 36, squared error).
 */
export function makeQkx3Quants(
  n: i32, nmax: i32, x: usize, weights: usize, L: usize, theMin: usize, Laux: usize,
  rmin: f32, rdelta: f32, nstep: i32, useMad: bool,
): f32 {
  let min = ldf(x, 0);
  let max = min;
  let sumW: f32 = weights ? ldf(weights, 0) : min * min;
  let sumX = sumW * ldf(x, 0);
  for (let i = 1; i < n; ++i) {
    const xi = ldf(x, i);
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w: f32 = weights ? ldf(weights, i) : xi * xi;
    sumW += w;
    sumX += w * xi;
  }
  if (min > 0) min = 0;
  if (max <= min) {
    memory.fill(L, 0, <usize>n);
    store<f32>(theMin, -min);
    return 0;
  }
  let iscale: f32 = <f32>nmax / (max - min);
  let scale: f32 = <f32>1 / iscale;
  let bestMad: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = ldf(x, i);
    const l = max_i(0, min_i(nmax, nearestInt(iscale * (xi - min))));
    store<u8>(L + <usize>i, <u8>l);
    let diff: f32 = scale * <f32>(l & 0xff) + min - xi;
    diff = useMad ? Mathf.abs(diff) : diff * diff;
    const w: f32 = weights ? ldf(weights, i) : xi * xi;
    bestMad += w * diff;
  }
  if (nstep < 1) {
    store<f32>(theMin, -min);
    return scale;
  }
  const fnmax = <f32>nmax;
  for (let is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * <f32>is + fnmax) / (max - min);
    let sumL: f32 = 0, sumL2: f32 = 0, sumXL: f32 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = ldf(x, i);
      const v: f32 = iscale * (xi - min);
      const l: i32 = v > 0 ? nearestInt(v < fnmax ? v : fnmax) : 0;
      store<u8>(Laux + <usize>i, <u8>l);
      const w: f32 = weights ? ldf(weights, i) : xi * xi;
      const fl = <f32>l;
      sumL += w * fl;
      sumL2 += w * fl * fl;
      sumXL += w * fl * xi;
    }
    const D: f32 = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale: f32 = (sumW * sumXL - sumX * sumL) / D;
      let thisMin: f32 = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      let mad: f32 = 0;
      for (let i = 0; i < n; ++i) {
        const xi = ldf(x, i);
        let diff: f32 = thisScale * <f32>load<u8>(Laux + <usize>i) + thisMin - xi;
        diff = useMad ? Mathf.abs(diff) : diff * diff;
        const w: f32 = weights ? ldf(weights, i) : xi * xi;
        mad += w * diff;
      }
      if (mad < bestMad) {
        memory.copy(L, Laux, <usize>n);
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  store<f32>(theMin, -min);
  return scale;
}

/**
 * make_qp_quants: quantizes n non-negative floats (sub-block scales or mins)
 * to 0..nmax (u8 at L) with weights qw (required): 9 trial scales around
 * nmax/max, then up to 5 rounds of coordinate descent on the weighted
 * least-squares objective. Returns the scale (sumlx/suml2).
 */
export function makeQpQuants(n: i32, nmax: i32, x: usize, L: usize, qw: usize): f32 {
  let max: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = ldf(x, i);
    max = max > xi ? max : xi;
  }
  if (max < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  let iscale: f32 = <f32>nmax / max;
  for (let i = 0; i < n; ++i) store<u8>(L + <usize>i, <u8>nearestInt(iscale * ldf(x, i)));
  const scale: f32 = <f32>1 / iscale;
  let bestMse: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const diff: f32 = ldf(x, i) - scale * <f32>load<u8>(L + <usize>i);
    bestMse += ldf(qw, i) * diff * diff;
  }
  for (let is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const iscaleIs: f32 = (<f32>0.1 * <f32>is + <f32>nmax) / max;
    const scaleIs: f32 = <f32>1 / iscaleIs;
    let mse: f32 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = ldf(x, i);
      const l = min_i(nmax, nearestInt(iscaleIs * xi));
      const diff: f32 = xi - scaleIs * <f32>l;
      mse += ldf(qw, i) * diff * diff;
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const xi = ldf(x, i);
    const l = min_i(nmax, nearestInt(iscale * xi));
    store<u8>(L + <usize>i, <u8>l);
    const lf = <f32>l; // C sums with the int l here, not the stored u8
    const w = ldf(qw, i);
    sumlx += w * xi * lf;
    suml2 += w * lf * lf;
  }
  for (let itry = 0; itry < 5; ++itry) {
    let nChanged = 0;
    for (let i = 0; i < n; ++i) {
      const w = ldf(qw, i);
      const xi = ldf(x, i);
      const li = <i32>load<u8>(L + <usize>i);
      const lf = <f32>li;
      let slx: f32 = sumlx - w * xi * lf;
      let sl2: f32 = suml2 - w * lf * lf;
      if (slx > 0 && sl2 > 0) {
        const newL = min_i(nmax, nearestInt(xi * sl2 / slx));
        if (newL != li) {
          const nf = <f32>newL;
          slx += w * xi * nf;
          sl2 += w * nf * nf;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<u8>(L + <usize>i, <u8>newL);
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? sumlx / suml2 : <f32>0;
}

/**
 * make_q3_quants: symmetric quantization to -nmax..nmax-1 (stored + nmax,
 * i8 at L). With doRmse: x^2-weighted coordinate descent (up to 5 rounds)
 * starting from rounding at -nmax/max. Returns the scale.
 */
export function makeQ3Quants(n: i32, nmax: i32, x: usize, L: usize, doRmse: bool): f32 {
  let max: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; ++i) {
    const ax = Mathf.abs(ldf(x, i));
    if (ax > amax) { amax = ax; max = ldf(x, i); }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  const iscale: f32 = <f32>(-nmax) / max;
  if (doRmse) {
    let sumlx: f32 = 0;
    let suml2: f32 = 0;
    for (let i = 0; i < n; ++i) {
      const xi = ldf(x, i);
      const l = max_i(-nmax, min_i(nmax - 1, nearestInt(iscale * xi)));
      store<i8>(L + <usize>i, <i8>l);
      const w = xi * xi;
      const fl = <f32>l;
      sumlx += w * xi * fl;
      suml2 += w * fl * fl;
    }
    for (let itry = 0; itry < 5; ++itry) {
      let nChanged = 0;
      for (let i = 0; i < n; ++i) {
        const xi = ldf(x, i);
        const w = xi * xi;
        const li = <i32>load<i8>(L + <usize>i);
        const lf = <f32>li;
        let slx: f32 = sumlx - w * xi * lf;
        if (slx > 0) {
          let sl2: f32 = suml2 - w * lf * lf;
          const newL = max_i(-nmax, min_i(nmax - 1, nearestInt(xi * sl2 / slx)));
          if (newL != li) {
            const nf = <f32>newL;
            slx += w * xi * nf;
            sl2 += w * nf * nf;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
              store<i8>(L + <usize>i, <i8>newL);
              sumlx = slx;
              suml2 = sl2;
              ++nChanged;
            }
          }
        }
      }
      if (!nChanged) break;
    }
    for (let i = 0; i < n; ++i) store<i8>(L + <usize>i, <i8>(load<i8>(L + <usize>i) + nmax));
    return suml2 > 0 ? sumlx / suml2 : <f32>0;
  }
  for (let i = 0; i < n; ++i) {
    const l = max_i(-nmax, min_i(nmax - 1, nearestInt(iscale * ldf(x, i))));
    store<i8>(L + <usize>i, <i8>(l + nmax));
  }
  return <f32>1 / iscale;
}

// C's MIN/MAX macros on ints.
// @ts-ignore: decorator
@inline export function min_i(a: i32, b: i32): i32 { return a < b ? a : b; }
// @ts-ignore: decorator
@inline export function max_i(a: i32, b: i32): i32 { return a > b ? a : b; }
