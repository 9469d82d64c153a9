// Section 2: row-to-row variability (each weight row is one output neuron).
import type { Matrix } from "../../io/f32bin.js";
import type { RowVariability } from "./types.js";
import { nn, summarize } from "./common.js";

export function rowVariability(name: string, m: Matrix): RowVariability {
  const { rows, cols, data } = m;
  const means = new Float64Array(rows);
  const stds = new Float64Array(rows);
  const ranges = new Float64Array(rows);
  let rowsWithNonFinite = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let n = 0, sum = 0, mn = Infinity, mx = -Infinity;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) continue;
      n++; sum += x;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    if (n < cols) rowsWithNonFinite++;
    if (n === 0) { means[r] = NaN; stds[r] = NaN; ranges[r] = NaN; continue; }
    const mean = sum / n;
    let s2 = 0;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) continue;
      s2 += (x - mean) * (x - mean);
    }
    means[r] = mean;
    stds[r] = Math.sqrt(s2 / n);
    ranges[r] = mx - mn;
  }
  const rm = summarize(means);
  const rs = summarize(stds);
  return {
    name,
    rows,
    cols,
    rowMeans: rm,
    rowStds: rs,
    rowRanges: summarize(ranges),
    rowMeansCv: rm.std !== null && rm.mean !== null ? nn(rm.std / (Math.abs(rm.mean) + 1e-10)) : null,
    rowMeanSpread: rm.std !== null && rs.mean ? nn(rm.std / rs.mean) : null,
    rowStdsCv: rs.std !== null && rs.mean !== null ? nn(rs.std / (rs.mean + 1e-10)) : null,
    rowsWithNonFinite,
  };
}
