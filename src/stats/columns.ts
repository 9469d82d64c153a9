// Per-column (input dimension) reductions of a row-major matrix in one or two
// row-order passes (cache friendly), f64 accumulators.

/** Sum of squares and finite count per column. */
export function columnSumSquares(data: Float32Array, rows: number, cols: number): { sumsq: Float64Array; count: Float64Array } {
  const sumsq = new Float64Array(cols);
  const count = new Float64Array(cols);
  let clean = true;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) { clean = false; continue; }
      sumsq[c] += x * x;
    }
  }
  if (clean) count.fill(rows);
  else {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) { const x = data[o + c]!; if (x - x === 0) count[c]++; }
    }
  }
  return { sumsq, count };
}

/** Per-column mean, population std, excess kurtosis, min, max, negative fraction (finite values only). */
export function columnMoments(data: Float32Array, rows: number, cols: number) {
  const sum = new Float64Array(cols);
  const count = new Float64Array(cols);
  const min = new Float64Array(cols).fill(Infinity);
  const max = new Float64Array(cols).fill(-Infinity);
  const neg = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) continue;
      sum[c] += x; count[c]++;
      if (x < min[c]!) min[c] = x;
      if (x > max[c]!) max[c] = x;
      if (x < 0) neg[c]++;
    }
  }
  const mean = new Float64Array(cols);
  for (let c = 0; c < cols; c++) mean[c] = count[c]! > 0 ? sum[c]! / count[c]! : NaN;
  const m2 = new Float64Array(cols);
  const m4 = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) continue;
      const d = x - mean[c]!;
      const d2 = d * d;
      m2[c] += d2; m4[c] += d2 * d2;
    }
  }
  const std = new Float64Array(cols);
  const kurt = new Float64Array(cols);
  const negFrac = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    const n = count[c]!;
    const v = n > 0 ? m2[c]! / n : NaN;
    std[c] = Math.sqrt(v);
    kurt[c] = v > 0 ? m4[c]! / n / (v * v) - 3 : n > 0 ? 0 : NaN;
    negFrac[c] = n > 0 ? neg[c]! / n : NaN;
    if (n === 0) { min[c] = NaN; max[c] = NaN; }
  }
  return { mean, std, kurt, min, max, negFrac, count };
}
