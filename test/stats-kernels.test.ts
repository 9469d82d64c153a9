// Numeric kernels against independent computations (sorting, textbook formulas).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { percentilesF32, valuesAtRanks } from "../src/stats/select.js";
import { moments } from "../src/stats/moments.js";
import { pearson } from "../src/stats/correlation.js";
import { roundHalfEven } from "../src/stats/float32.js";
import { columnMoments } from "../src/stats/columns.js";
import { topIndices, topShare } from "../src/stats/order.js";

/** numpy.percentile(a, p) (linear) by sorting, the textbook way. */
function refPercentile(sorted: number[], p: number): number {
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x), hi = Math.ceil(x);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (x - lo);
}

const f32arr = fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 300 });

test("radix select returns exactly the sorted order statistics", () => {
  fc.assert(fc.property(f32arr, (vals) => {
    const a = Float32Array.from(vals);
    const sorted = Array.from(a).sort((x, y) => x - y);
    const ranks = [0, sorted.length - 1, Math.floor(sorted.length / 2)];
    const got = valuesAtRanks(a, ranks);
    ranks.forEach((r, i) => assert.ok(got[i] === sorted[r] || (got[i] === 0 && sorted[r] === 0), `rank ${r}`));
  }), { numRuns: 300 });
});

test("percentiles match numpy's linear method; NaN/Inf skipped", () => {
  const a = new Float32Array(10001);
  let s = 12345;
  for (let i = 0; i < a.length; i++) { s = (s * 1103515245 + 12345) >>> 0; a[i] = Math.fround(((s / 2 ** 32) - 0.3) ** 3); }
  a[5] = NaN; a[6] = Infinity; a[7] = -Infinity; a[8] = 0; a[9] = -0;
  const finite = Array.from(a).filter(Number.isFinite).sort((x, y) => x - y);
  const ps = [0, 0.1, 1, 5, 25, 50, 75, 95, 99, 99.9, 100];
  const got = percentilesF32(a, ps, finite.length);
  ps.forEach((p, i) => assert.ok(Math.abs(got[i]! - refPercentile(finite, p)) <= 1e-12, `p${p}: ${got[i]} vs ${refPercentile(finite, p)}`));
  // numpy.percentile([1, 2, 3, 4], [0, 10, 50, 90, 100]) = [1, 1.3, 2.5, 3.7, 4]
  assert.deepEqual(percentilesF32(Float32Array.from([4, 1, 3, 2]), [0, 50, 100], 4), [1, 2.5, 4]);
  assert.ok(Math.abs(percentilesF32(Float32Array.from([4, 1, 3, 2]), [10], 4)[0]! - 1.3) < 1e-12);
});

test("moments agree with a direct two-pass computation and skip non-finite values", () => {
  const vals = [1, 2, 2, 3, 10, -4, 0.5];
  const a = Float32Array.from([...vals, NaN, Infinity]);
  const m = moments(a);
  const n = vals.length;
  const mean = vals.reduce((x, y) => x + y) / n;
  const c = (k: number) => vals.reduce((s, x) => s + (x - mean) ** k, 0) / n;
  assert.equal(m.n, n);
  assert.deepEqual(m.nonFinite, { nan: 1, posInf: 1, negInf: 0 });
  assert.ok(Math.abs(m.mean - mean) < 1e-12);
  assert.ok(Math.abs(m.variance - c(2)) < 1e-12);
  assert.ok(Math.abs(m.skewness - c(3) / c(2) ** 1.5) < 1e-12);
  assert.ok(Math.abs(m.excessKurtosis - (c(4) / c(2) ** 2 - 3)) < 1e-12);
  assert.equal(m.min, -4);
  assert.equal(m.max, 10);
});

test("column moments equal per-column moments of the transposed data", () => {
  const rows = 7, cols = 5;
  const d = Float32Array.from({ length: rows * cols }, (_, i) => Math.fround(Math.sin(i * 1.7) * (1 + (i % 3))));
  const cm = columnMoments(d, rows, cols);
  for (let c = 0; c < cols; c++) {
    const m = moments(d, c, d.length, cols);
    assert.ok(Math.abs(cm.std[c]! - m.std) < 1e-12);
    assert.ok(Math.abs(cm.kurt[c]! - m.excessKurtosis) < 1e-9);
    assert.equal(cm.min[c], m.min);
  }
});

test("pearson: known values, undefined cases", () => {
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 4, 6, 8])! - 1) < 1e-15);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [8, 6, 4, 2])! + 1) < 1e-15);
  // r of (1,2,3) and (1,3,2) = 0.5
  assert.ok(Math.abs(pearson([1, 2, 3], [1, 3, 2])! - 0.5) < 1e-15);
  assert.equal(pearson([1, 1, 1], [1, 2, 3]), null);
  assert.equal(pearson([1], [2]), null);
});

test("round half to even like numpy/Python", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3]);
});

test("top indices and top share", () => {
  assert.deepEqual(topIndices([3, 9, NaN, 1, 9.5], 2), [4, 1]);
  assert.equal(topShare([1, 1, 2], 1), 50);
});
