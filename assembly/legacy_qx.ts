// make_qx_quants(32, nmax, x, L, rmse_type = 1, qw) for the imatrix paths of
// Q4_0 (nmax 8) and Q5_0 (nmax 16), with the 19 trial scales spread over SIMD
// lanes: each lane runs one trial's sums over i = 0..31 in C's order, so the
// sums are bit-identical to the scalar search (kutil.ts makeQxQuants); only the
// trials run side by side. The winner is then picked in C's order of trials.
import { blockAbsMaxBits, blockSignedMax } from "./legacy_simd";

const GROUP_MAX_EPS: f32 = 1e-15;

/** Trial iscales, 5 vectors of 4 lanes: [first, -9, -8, -7], [-6..-3], [-2, -1, 1, 2], [3..6], [7, 8, 9, unused]. */
const ISCALE: usize = memory.data(20 * 4, 16);
const SUMLX: usize = memory.data(20 * 4, 16);
const SUML2: usize = memory.data(20 * 4, 16);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/**
 * nearest_int on 4 lanes, clamped to [-nmax, nmax-1], as float: (p + 1.5*2^23) - 1.5*2^23
 * is exactly the integer nearest_int extracts from the bits; pmin/pmax clamp it.
 */
// @ts-ignore: decorator
@inline function levels(p: v128, lo: v128, hi: v128): v128 {
  const magic = f32x4.splat(12582912.0);
  return f32x4.pmax(lo, f32x4.pmin(hi, f32x4.sub(f32x4.add(p, magic), magic)));
}

/** Writes L (i8, nmax + MAX(-nmax, MIN(nmax-1, nearest_int(iscale*x)))) for one iscale, 32 at a time. */
function storeLevels(x: usize, L: usize, nmax: i32, iscale: f32): void {
  const s = f32x4.splat(iscale);
  const lo = f32x4.splat(<f32>(-nmax));
  const hi = f32x4.splat(<f32>(nmax - 1));
  const off = i32x4.splat(nmax);
  const l0 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x)), lo, hi)), off);
  const l1 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 16)), lo, hi)), off);
  const l2 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 32)), lo, hi)), off);
  const l3 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 48)), lo, hi)), off);
  const l4 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 64)), lo, hi)), off);
  const l5 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 80)), lo, hi)), off);
  const l6 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 96)), lo, hi)), off);
  const l7 = i32x4.add(i32x4.trunc_sat_f32x4_s(levels(f32x4.mul(s, v128.load(x, 112)), lo, hi)), off);
  v128.store(L, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l0, l1), i16x8.narrow_i32x4_u(l2, l3)));
  v128.store(L, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l4, l5), i16x8.narrow_i32x4_u(l6, l7)), 16);
}

/** -(nmax + 0.1f*is) / max on 4 lanes of trial indices is. */
// @ts-ignore: decorator
@inline function trialIscales(nmax: v128, max: v128, is: v128): v128 {
  return f32x4.div(f32x4.neg(f32x4.add(nmax, f32x4.mul(f32x4.splat(0.1), is))), max);
}

export function makeQxQuants32W(nmax: i32, x: usize, L: usize, qw: usize): f32 {
  // first element with the largest |x| (C: `if (ax > amax)`), found with SIMD
  const amaxBits = blockAbsMaxBits(x);
  if (reinterpret<f32>(amaxBits) < GROUP_MAX_EPS) {
    memory.fill(L, 0, 32);
    return 0;
  }
  const max = blockSignedMax(x, amaxBits);
  const first: f32 = <f32>(-nmax) / max;
  // iscale = -(nmax + 0.1f*is) / max for is = -9..9 (not 0), lane-wise: same operations
  const nm = f32x4.splat(<f32>nmax);
  const mx = f32x4.splat(max);
  const s0 = f32x4.replace_lane(trialIscales(nm, mx, f32x4(0, -9, -8, -7)), 0, first);
  const s1 = trialIscales(nm, mx, f32x4(-6, -5, -4, -3));
  const s2 = trialIscales(nm, mx, f32x4(-2, -1, 1, 2));
  const s3 = trialIscales(nm, mx, f32x4(3, 4, 5, 6));
  const s4 = trialIscales(nm, mx, f32x4(7, 8, 9, 9));
  v128.store(ISCALE, s0);
  v128.store(ISCALE, s1, 16);
  v128.store(ISCALE, s2, 32);
  v128.store(ISCALE, s3, 48);
  v128.store(ISCALE, s4, 64);
  const lo = f32x4.splat(<f32>(-nmax));
  const hi = f32x4.splat(<f32>(nmax - 1));
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0; // sum of w*x*l
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0; // sum of w*l*l
  for (let i = 0; i < 32; i++) {
    const xs = ldf(x, i);
    const ws = ldf(qw, i);
    const xv = f32x4.splat(xs);
    const wv = f32x4.splat(ws);
    const wx = f32x4.splat(ws * xs);
    let l = levels(f32x4.mul(s0, xv), lo, hi);
    a0 = f32x4.add(a0, f32x4.mul(wx, l));
    b0 = f32x4.add(b0, f32x4.mul(f32x4.mul(wv, l), l));
    l = levels(f32x4.mul(s1, xv), lo, hi);
    a1 = f32x4.add(a1, f32x4.mul(wx, l));
    b1 = f32x4.add(b1, f32x4.mul(f32x4.mul(wv, l), l));
    l = levels(f32x4.mul(s2, xv), lo, hi);
    a2 = f32x4.add(a2, f32x4.mul(wx, l));
    b2 = f32x4.add(b2, f32x4.mul(f32x4.mul(wv, l), l));
    l = levels(f32x4.mul(s3, xv), lo, hi);
    a3 = f32x4.add(a3, f32x4.mul(wx, l));
    b3 = f32x4.add(b3, f32x4.mul(f32x4.mul(wv, l), l));
    l = levels(f32x4.mul(s4, xv), lo, hi);
    a4 = f32x4.add(a4, f32x4.mul(wx, l));
    b4 = f32x4.add(b4, f32x4.mul(f32x4.mul(wv, l), l));
  }
  v128.store(SUMLX, a0);
  v128.store(SUMLX, a1, 16);
  v128.store(SUMLX, a2, 32);
  v128.store(SUMLX, a3, 48);
  v128.store(SUMLX, a4, 64);
  v128.store(SUML2, b0);
  v128.store(SUML2, b1, 16);
  v128.store(SUML2, b2, 32);
  v128.store(SUML2, b3, 48);
  v128.store(SUML2, b4, 64);

  let sumlx = load<f32>(SUMLX);
  let suml2 = load<f32>(SUML2);
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : <f32>0;
  let best: f32 = scale * sumlx;
  let bestIscale = first;
  for (let k = 1; k < 19; k++) {
    sumlx = load<f32>(SUMLX + (<usize>k << 2));
    suml2 = load<f32>(SUML2 + (<usize>k << 2));
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      bestIscale = load<f32>(ISCALE + (<usize>k << 2));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  storeLevels(x, L, nmax, bestIscale);
  return scale;
}
