// Moments of a float32 series with f64 accumulation (two passes: mean, then
// central moments, which stays accurate when |mean| << std). Non-finite
// values are counted and skipped.
import type { NonFiniteCounts } from "../analysis/study/types.js";

export interface Moments {
  /** Finite values seen. */
  readonly n: number;
  readonly mean: number;
  /** Population variance (ddof = 0). */
  readonly variance: number;
  readonly std: number;
  /** Third standardized moment (0 when std = 0). */
  readonly skewness: number;
  /** Fourth standardized moment minus 3 (0 when std = 0... reported as -3 only if data is constant: we return 0 then). */
  readonly excessKurtosis: number;
  readonly min: number;
  readonly max: number;
  readonly nonFinite: NonFiniteCounts;
}

/** Count of finite values, their sum, min, max and non-finite counts over data[start..end) with a stride. */
export function firstPass(data: Float32Array, start = 0, end = data.length, stride = 1) {
  let n = 0, sum = 0, min = Infinity, max = -Infinity, nan = 0, posInf = 0, negInf = 0;
  for (let i = start; i < end; i += stride) {
    const x = data[i]!;
    if (x - x !== 0) {
      if (x !== x) nan++;
      else if (x > 0) posInf++;
      else negInf++;
      continue;
    }
    n++;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { n, sum, min, max, nonFinite: { nan, posInf, negInf } };
}

/** Full moments over data[start..end) (stride for columns). */
export function moments(data: Float32Array, start = 0, end = data.length, stride = 1): Moments {
  const p = firstPass(data, start, end, stride);
  const n = p.n;
  if (n === 0) {
    return { n, mean: NaN, variance: NaN, std: NaN, skewness: NaN, excessKurtosis: NaN, min: NaN, max: NaN, nonFinite: p.nonFinite };
  }
  const mean = p.sum / n;
  let s2 = 0, s3 = 0, s4 = 0;
  const clean = p.nonFinite.nan + p.nonFinite.posInf + p.nonFinite.negInf === 0;
  for (let i = start; i < end; i += stride) {
    const x = data[i]!;
    if (!clean && x - x !== 0) continue;
    const d = x - mean;
    const d2 = d * d;
    s2 += d2;
    s3 += d2 * d;
    s4 += d2 * d2;
  }
  const variance = s2 / n;
  const std = Math.sqrt(variance);
  const skewness = variance > 0 ? s3 / n / (variance * std) : 0;
  const excessKurtosis = variance > 0 ? s4 / n / (variance * variance) - 3 : 0;
  return { n, mean, variance, std, skewness, excessKurtosis, min: p.min, max: p.max, nonFinite: p.nonFinite };
}

/** Mean and population std of a small numeric array (NaN entries skipped). */
export function meanStd(a: ArrayLike<number>): { n: number; mean: number; std: number; min: number; max: number } {
  let n = 0, sum = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x !== x) continue;
    n++;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (n === 0) return { n, mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = sum / n;
  let s2 = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x !== x) continue;
    s2 += (x - mean) * (x - mean);
  }
  return { n, mean, std: Math.sqrt(s2 / n), min, max };
}
