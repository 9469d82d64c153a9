// The study's pass B over a chunk of weight rows (src/analysis/study/fast-weight-scan.ts
// holds the reference in TypeScript and documents the state slots): central moments, low
// sort-key bits for the exact percentiles, 16-element group statistics, the two 2-bit
// models and the proxy's per-column error. f64 arithmetic in two SIMD lanes: every
// per-element value is computed with the same operations as the TypeScript loop, only
// the order in which lanes are summed differs (last-bit differences in the sums).

const C2 = 0, C3 = 1, C4 = 2, GM_S = 3, GM_S2 = 4, GM_MIN = 5, GM_MAX = 6, GS_S = 7, GS_S2 = 8, GS_MIN = 9, GS_MAX = 10;
const GR_S = 11, GR_S2 = 12, GR_MIN = 13, GR_MAX = 14, OFF_S = 15, OFF_MAX = 16, A1 = 17, A2 = 18, A3 = 19;
const MSE_NO = 20, MSE_W = 21, S7_STD = 22, S7_POS = 23, S7_NEG = 24, K = 25, MEAN = 26, S7_THR = 27;

// @ts-ignore: decorator
@inline function ld(st: usize, i: i32): f64 { return load<f64>(st + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline function sto(st: usize, i: i32, v: f64): void { store<f64>(st + (<usize>i << 3), v); }
// @ts-ignore: decorator
@inline function hsum(v: v128): f64 { return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1); }

/** Counts the low key bits of the values whose high bits are a wanted bucket. */
// @ts-ignore: decorator
@inline function countKey(b: u32, want: usize, slot: usize, lo: usize): void {
  const key = b ^ ((0 - (b >>> 31)) | 0x80000000);
  const hi = key >>> 16;
  if ((load<u32>(want + ((<usize>(hi >>> 5)) << 2)) >>> (hi & 31)) & 1) {
    const p = lo + ((<usize>(load<i32>(slot + (<usize>hi << 2)) * 65536 + (key & 0xffff))) << 2);
    store<u32>(p, load<u32>(p) + 1);
  }
}

/**
 * Pass B over nRows rows of cols float32 at data. st: the state slots (f64, updated);
 * offsets: one f32 per whole group, written from index 0 (the host appends them);
 * colSse: f64 per column (updated when withErr). want/slot/lo: the radix plan.
 * offHist: high key bits of the offsets (u32 × 65536, updated), for their percentiles.
 */
export function studyPassB(
  data: usize, nRows: i32, cols: i32, st: usize, want: usize, slot: usize, lo: usize,
  offsets: usize, colSse: usize, withErr: i32, offHist: usize,
): void {
  const mean = ld(st, MEAN), s7Thr = ld(st, S7_THR);
  const meanV = f64x2.splat(mean);
  const half = f64x2.splat(0.5), one5 = f64x2.splat(1.5), zero = f64x2.splat(0);
  let c2 = zero, c3 = zero, c4 = zero, mseNo = zero, mseW = zero;
  let gmS: f64 = 0, gmS2: f64 = 0, gsS: f64 = 0, gsS2: f64 = 0, grS: f64 = 0, grS2: f64 = 0, offS: f64 = 0;
  let gmMin = ld(st, GM_MIN), gmMax = ld(st, GM_MAX), gsMin = ld(st, GS_MIN), gsMax = ld(st, GS_MAX);
  let grMin = ld(st, GR_MIN), grMax = ld(st, GR_MAX), offMax = ld(st, OFF_MAX);
  let a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, pos: f64 = 0, neg: f64 = 0, s7Std: f64 = 0;
  let k = 0;
  const span = cols - (cols % 16);
  for (let r = 0; r < nRows; r++) {
    const row = data + ((<usize>r * <usize>cols) << 2);
    let rgS: f64 = 0, rgS2: f64 = 0;
    for (let g = 0; g < span; g += 16) {
      const p = row + (<usize>g << 2);
      let sv = zero, s2v = zero;
      let mnv = f64x2.splat(Infinity), mxv = f64x2.splat(-Infinity);
      for (let j = 0; j < 16; j += 2) {
        const x = f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>j << 2)));
        const d = f64x2.sub(x, meanV), d2 = f64x2.mul(d, d);
        c2 = f64x2.add(c2, d2); c3 = f64x2.add(c3, f64x2.mul(d2, d)); c4 = f64x2.add(c4, f64x2.mul(d2, d2));
        sv = f64x2.add(sv, x); s2v = f64x2.add(s2v, f64x2.mul(x, x));
        mnv = f64x2.pmin(mnv, x); mxv = f64x2.pmax(mxv, x);
      }
      for (let j = 0; j < 16; j++) countKey(load<u32>(p + (<usize>j << 2)), want, slot, lo);
      const s = hsum(sv), s2 = hsum(s2v);
      const mn = min(f64x2.extract_lane(mnv, 0), f64x2.extract_lane(mnv, 1));
      const mx = max(f64x2.extract_lane(mxv, 0), f64x2.extract_lane(mxv, 1));
      const gm = s / 16;
      const gsd = Math.sqrt(max(0, s2 / 16 - gm * gm)), range = mx - mn;
      gmS += gm; gmS2 += gm * gm; rgS += gm; rgS2 += gm * gm;
      gmMin = min(gmMin, gm); gmMax = max(gmMax, gm);
      gsS += gsd; gsS2 += gsd * gsd;
      gsMin = min(gsMin, gsd); gsMax = max(gsMax, gsd);
      grS += range; grS2 += range * range;
      grMin = min(grMin, range); grMax = max(grMax, range);
      const off: f64 = range > 1e-10 ? Math.abs(gm) / range : 0;
      store<f32>(offsets + (<usize>k << 2), <f32>off);
      countHigh(reinterpret<u32>(<f32>off), offHist);
      k++;
      offS += off;
      offMax = max(offMax, off);
      if (off > 0.1) { a1++; if (off > 0.2) { a2++; if (off > 0.3) a3++; } }
      if (gm > s7Thr) pos++; else if (gm < -s7Thr) neg++;
      // symmetric (no offset), min/max affine (offset), proxy (min clamped <= 0), rounded like
      // round03(t) = clamp(floor(t + 0.5), 0, 3). The clamp is left out: every t here lies in
      // [-4ε, 3 + 5ε] (|x| <= amax, and x - min is exact in f64), where floor(t + 0.5) is 0..3 anyway.
      const amax = mx > -mn ? mx : -mn;
      const dNo = amax / 1.5, iNo: f64 = dNo > 0 ? 1 / dNo : 0;
      const dW = range / 3, iW: f64 = dW > 0 ? 1 / dW : 0;
      const clamped = mn > 0;
      const pMin: f64 = mn < 0 ? mn : 0, dP = (mx - pMin) / 3, iP: f64 = dP > 0 ? 1 / dP : 0;
      const dNoV = f64x2.splat(dNo), iNoV = f64x2.splat(iNo), dWV = f64x2.splat(dW), iWV = f64x2.splat(iW), mnV = f64x2.splat(mn);
      const pMinV = f64x2.splat(pMin), dPV = f64x2.splat(dP), iPV = f64x2.splat(iP);
      const cs = colSse + (<usize>g << 3);
      for (let j = 0; j < 16; j += 2) {
        const x = f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>j << 2)));
        // dNo = 0 only for an all-zero group, where this gives 0 like the TypeScript branch
        const qNo = f64x2.floor(f64x2.add(f64x2.add(f64x2.mul(x, iNoV), one5), half));
        const eNo = f64x2.sub(x, f64x2.mul(f64x2.sub(qNo, one5), dNoV));
        const qW = f64x2.floor(f64x2.add(f64x2.mul(f64x2.sub(x, mnV), iWV), half));
        const eW = f64x2.sub(x, f64x2.add(mnV, f64x2.mul(qW, dWV)));
        mseNo = f64x2.add(mseNo, f64x2.mul(eNo, eNo)); mseW = f64x2.add(mseW, f64x2.mul(eW, eW));
        if (withErr) {
          let eP = eW;
          if (clamped) {
            const qP = f64x2.floor(f64x2.add(f64x2.mul(f64x2.sub(x, pMinV), iPV), half));
            eP = f64x2.sub(x, f64x2.add(pMinV, f64x2.mul(qP, dPV)));
          }
          const c = cs + (<usize>j << 3);
          v128.store(c, f64x2.add(v128.load(c), f64x2.mul(eP, eP)));
        }
      }
    }
    // tail columns: moments and keys only (not a group)
    for (let i = span; i < cols; i++) {
      const b = load<u32>(row + (<usize>i << 2));
      const x = <f64>reinterpret<f32>(b);
      const d = x - mean, d2 = d * d;
      c2 = f64x2.add(c2, f64x2.replace_lane(zero, 0, d2));
      c3 = f64x2.add(c3, f64x2.replace_lane(zero, 0, d2 * d));
      c4 = f64x2.add(c4, f64x2.replace_lane(zero, 0, d2 * d2));
      countKey(b, want, slot, lo);
    }
    const groups = span >> 4;
    if (groups > 0) {
      const mu = rgS / groups;
      s7Std += Math.sqrt(max(0, rgS2 / groups - mu * mu));
    }
  }
  sto(st, C2, ld(st, C2) + hsum(c2)); sto(st, C3, ld(st, C3) + hsum(c3)); sto(st, C4, ld(st, C4) + hsum(c4));
  sto(st, MSE_NO, ld(st, MSE_NO) + hsum(mseNo)); sto(st, MSE_W, ld(st, MSE_W) + hsum(mseW));
  sto(st, GM_S, ld(st, GM_S) + gmS); sto(st, GM_S2, ld(st, GM_S2) + gmS2); sto(st, GS_S, ld(st, GS_S) + gsS); sto(st, GS_S2, ld(st, GS_S2) + gsS2);
  sto(st, GR_S, ld(st, GR_S) + grS); sto(st, GR_S2, ld(st, GR_S2) + grS2); sto(st, OFF_S, ld(st, OFF_S) + offS);
  sto(st, GM_MIN, gmMin); sto(st, GM_MAX, gmMax); sto(st, GS_MIN, gsMin); sto(st, GS_MAX, gsMax); sto(st, GR_MIN, grMin); sto(st, GR_MAX, grMax);
  sto(st, OFF_MAX, offMax); sto(st, A1, ld(st, A1) + a1); sto(st, A2, ld(st, A2) + a2); sto(st, A3, ld(st, A3) + a3);
  sto(st, S7_POS, ld(st, S7_POS) + pos); sto(st, S7_NEG, ld(st, S7_NEG) + neg); sto(st, K, ld(st, K) + <f64>k);
  sto(st, S7_STD, ld(st, S7_STD) + s7Std);
}

/** Adds one to the histogram bucket of a value's high 16 sort-key bits. */
// @ts-ignore: decorator
@inline function countHigh(b: u32, hist: usize): void {
  const p = hist + (<usize>((b ^ ((0 - (b >>> 31)) | 0x80000000)) >>> 16) << 2);
  store<u32>(p, load<u32>(p) + 1);
}

/**
 * Pass A over nRows rows of cols float32 at data: per row sum, sum of squares, min and max
 * into rowOut (4 f64 per row); the high 16 sort-key bits of every value into hist (u32 × 65536).
 */
export function studyPassA(data: usize, nRows: i32, cols: i32, hist: usize, rowOut: usize): void {
  const zero = f64x2.splat(0);
  const even = cols & ~1;
  for (let r = 0; r < nRows; r++) {
    const row = data + ((<usize>r * <usize>cols) << 2);
    let sv = zero, s2v = zero, mnv = f64x2.splat(Infinity), mxv = f64x2.splat(-Infinity);
    for (let i = 0; i < even; i += 2) {
      const p = row + (<usize>i << 2);
      const x = f64x2.promote_low_f32x4(v128.load64_zero(p));
      sv = f64x2.add(sv, x); s2v = f64x2.add(s2v, f64x2.mul(x, x));
      mnv = f64x2.pmin(mnv, x); mxv = f64x2.pmax(mxv, x);
      countHigh(load<u32>(p), hist);
      countHigh(load<u32>(p, 4), hist);
    }
    let s = hsum(sv), s2 = hsum(s2v);
    let mn = min(f64x2.extract_lane(mnv, 0), f64x2.extract_lane(mnv, 1));
    let mx = max(f64x2.extract_lane(mxv, 0), f64x2.extract_lane(mxv, 1));
    if (even < cols) {
      const b = load<u32>(row + (<usize>even << 2));
      const x = <f64>reinterpret<f32>(b);
      s += x; s2 += x * x; mn = min(mn, x); mx = max(mx, x);
      countHigh(b, hist);
    }
    const o = rowOut + ((<usize>r << 2) << 3);
    store<f64>(o, s); store<f64>(o, s2, 8); store<f64>(o, mn, 16); store<f64>(o, mx, 24);
  }
}

/**
 * Activation pass A over nRows tokens (fast-activation-scan.ts): per token sum, sum of squares,
 * min, max and count of negative values into rowOut (5 f64 per token); per column sums of x,
 * x² and negatives (colSum/colSq/colNeg, f64, updated); high key bits into hist.
 */
export function studyActPassA(
  data: usize, nRows: i32, cols: i32, hist: usize, colSum: usize, colSq: usize, colNeg: usize, rowOut: usize,
): void {
  const zero = f64x2.splat(0), oneV = f64x2.splat(1);
  const even = cols & ~1;
  for (let r = 0; r < nRows; r++) {
    const row = data + ((<usize>r * <usize>cols) << 2);
    let sv = zero, s2v = zero, negv = zero, mnv = f64x2.splat(Infinity), mxv = f64x2.splat(-Infinity);
    for (let c = 0; c < even; c += 2) {
      const p = row + (<usize>c << 2);
      const x = f64x2.promote_low_f32x4(v128.load64_zero(p));
      const x2 = f64x2.mul(x, x);
      // x < 0 is false for -0, as the scalar code's sign-bit test excluding -0
      const isNeg = v128.and(f64x2.lt(x, zero), oneV);
      sv = f64x2.add(sv, x); s2v = f64x2.add(s2v, x2); negv = f64x2.add(negv, isNeg);
      mnv = f64x2.pmin(mnv, x); mxv = f64x2.pmax(mxv, x);
      const o = <usize>c << 3;
      v128.store(colSum + o, f64x2.add(v128.load(colSum + o), x));
      v128.store(colSq + o, f64x2.add(v128.load(colSq + o), x2));
      v128.store(colNeg + o, f64x2.add(v128.load(colNeg + o), isNeg));
      countHigh(load<u32>(p), hist);
      countHigh(load<u32>(p, 4), hist);
    }
    let s = hsum(sv), s2 = hsum(s2v), neg = hsum(negv);
    let mn = min(f64x2.extract_lane(mnv, 0), f64x2.extract_lane(mnv, 1));
    let mx = max(f64x2.extract_lane(mxv, 0), f64x2.extract_lane(mxv, 1));
    if (even < cols) {
      const b = load<u32>(row + (<usize>even << 2));
      const x = <f64>reinterpret<f32>(b);
      const o = <usize>even << 3;
      s += x; s2 += x * x; mn = min(mn, x); mx = max(mx, x);
      const isNeg: f64 = x < 0 ? 1 : 0;
      neg += isNeg;
      store<f64>(colSum + o, load<f64>(colSum + o) + x);
      store<f64>(colSq + o, load<f64>(colSq + o) + x * x);
      store<f64>(colNeg + o, load<f64>(colNeg + o) + isNeg);
      countHigh(b, hist);
    }
    const o = rowOut + <usize>r * 40;
    store<f64>(o, s); store<f64>(o, s2, 8); store<f64>(o, mn, 16); store<f64>(o, mx, 24); store<f64>(o, neg, 32);
  }
}

/**
 * Activation pass B: central moments about mean and the count of |x| < colThr[c] added to
 * st[0..3]; per token the count of |x| < tokThr[t] into near (f64 per token); low key bits.
 */
export function studyActPassB(
  data: usize, nRows: i32, cols: i32, mean: f64, tokThr: usize, colThr: usize,
  want: usize, slot: usize, lo: usize, st: usize, near: usize,
): void {
  const zero = f64x2.splat(0), oneV = f64x2.splat(1), meanV = f64x2.splat(mean);
  let c2 = zero, c3 = zero, c4 = zero, colNear = zero;
  const even = cols & ~1;
  for (let r = 0; r < nRows; r++) {
    const row = data + ((<usize>r * <usize>cols) << 2);
    const thr = load<f64>(tokThr + (<usize>r << 3)), thrV = f64x2.splat(thr);
    let nearV = zero;
    for (let c = 0; c < even; c += 2) {
      const p = row + (<usize>c << 2);
      const x = f64x2.promote_low_f32x4(v128.load64_zero(p));
      const d = f64x2.sub(x, meanV), d2 = f64x2.mul(d, d);
      c2 = f64x2.add(c2, d2); c3 = f64x2.add(c3, f64x2.mul(d2, d)); c4 = f64x2.add(c4, f64x2.mul(d2, d2));
      const ax = f64x2.abs(x);
      nearV = f64x2.add(nearV, v128.and(f64x2.lt(ax, thrV), oneV));
      colNear = f64x2.add(colNear, v128.and(f64x2.lt(ax, v128.load(colThr + (<usize>c << 3))), oneV));
      countKey(load<u32>(p), want, slot, lo);
      countKey(load<u32>(p, 4), want, slot, lo);
    }
    let nr = hsum(nearV);
    if (even < cols) {
      const b = load<u32>(row + (<usize>even << 2));
      const x = <f64>reinterpret<f32>(b);
      const d = x - mean, d2 = d * d;
      c2 = f64x2.add(c2, f64x2.replace_lane(zero, 0, d2));
      c3 = f64x2.add(c3, f64x2.replace_lane(zero, 0, d2 * d));
      c4 = f64x2.add(c4, f64x2.replace_lane(zero, 0, d2 * d2));
      if (Math.abs(x) < thr) nr += 1;
      if (Math.abs(x) < load<f64>(colThr + (<usize>even << 3))) colNear = f64x2.add(colNear, f64x2.replace_lane(zero, 0, 1));
      countKey(b, want, slot, lo);
    }
    store<f64>(near + (<usize>r << 3), nr);
  }
  sto(st, 0, ld(st, 0) + hsum(c2)); sto(st, 1, ld(st, 1) + hsum(c3)); sto(st, 2, ld(st, 2) + hsum(c4));
  sto(st, 3, ld(st, 3) + hsum(colNear));
}
