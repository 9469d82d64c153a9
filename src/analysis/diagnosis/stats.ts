// Small numeric helpers the report's evidence collection needs (plain loops
// over typed arrays, float64 accumulators, non-finite values skipped). Shared
// kernels (the correlation) come from src/stats.
import type { Histogram, WeightSummary } from "./model.js";
import { pearson as pearsonOrNull } from "../../stats/correlation.js";

/** Mean, std, min, max, excess kurtosis and a binned histogram; non-finite values are skipped. */
export function summarizeWeights(data: Float32Array, bins = 80): WeightSummary {
  let n = 0, sum = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    n++; sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = n ? sum / n : 0;
  let m2 = 0, m4 = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    const d = (v - mean) * (v - mean);
    m2 += d; m4 += d * d;
  }
  const variance = n ? m2 / n : 0;
  const kurt = variance > 0 ? m4 / n / (variance * variance) - 3 : 0;
  return {
    count: n, mean, std: Math.sqrt(variance),
    min: n ? min : 0, max: n ? max : 0,
    excessKurtosis: kurt,
    histogram: histogram(data, n ? min : 0, n ? max : 0, bins),
  };
}

export function histogram(data: Float32Array, lo: number, hi: number, bins: number): Histogram {
  const width = hi > lo ? (hi - lo) / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
    counts[b]!++;
  }
  return { lo, width, counts };
}

/** E[x_j^2] over the rows (tokens) of a rows x cols matrix; non-finite values are skipped. */
export function columnPower(data: Float32Array, rows: number, cols: number): Float64Array {
  const sum = new Float64Array(cols);
  const n = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) {
      const v = data[o + j]!;
      if (Number.isFinite(v)) { sum[j] += v * v; n[j]!++; }
    }
  }
  for (let j = 0; j < cols; j++) sum[j] = n[j]! ? sum[j]! / n[j]! : 0;
  return sum;
}

/** Per-column mean over rows of (a-b)^2, and of a^2. */
export function columnErrors(w: Float32Array, wq: Float32Array, rows: number, cols: number): { colMse: Float64Array; colMeanSquare: Float64Array } {
  const colMse = new Float64Array(cols);
  const colMeanSquare = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) {
      const a = w[o + j]!, e = a - wq[o + j]!;
      if (!Number.isFinite(e)) continue;
      colMse[j] += e * e;
      colMeanSquare[j] += a * a;
    }
  }
  for (let j = 0; j < cols; j++) { colMse[j] /= rows; colMeanSquare[j] /= rows; }
  return { colMse, colMeanSquare };
}

/** Pearson correlation (src/stats/correlation.ts); NaN when either side is constant or n < 2. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearsonOrNull(a, b) ?? NaN;
}

/** Indices sorted by value, largest first. */
export function argsortDesc(v: ArrayLike<number>): number[] {
  const idx = Array.from({ length: v.length }, (_, i) => i);
  return idx.sort((x, y) => v[y]! - v[x]! || x - y);
}

export function sum(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return s;
}

/** Mean squared difference on a grid of rowBand x colBlock cells (tail cells averaged over what they hold). */
export function blockErrors(w: Float32Array, wq: Float32Array, rows: number, cols: number, rowBand: number, colBlock: number): { nRowBands: number; nColBlocks: number; mse: Float64Array } {
  const nRowBands = Math.ceil(rows / rowBand), nColBlocks = Math.ceil(cols / colBlock);
  const mse = new Float64Array(nRowBands * nColBlocks);
  const n = new Float64Array(nRowBands * nColBlocks);
  for (let r = 0; r < rows; r++) {
    const o = r * cols, band = Math.floor(r / rowBand) * nColBlocks;
    for (let j = 0; j < cols; j++) {
      const e = w[o + j]! - wq[o + j]!;
      if (!Number.isFinite(e)) continue;
      const c = band + Math.floor(j / colBlock);
      mse[c] += e * e; n[c]!++;
    }
  }
  for (let i = 0; i < mse.length; i++) mse[i] = n[i]! ? mse[i]! / n[i]! : 0;
  return { nRowBands, nColBlocks, mse };
}
