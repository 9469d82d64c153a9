// Order statistics and interval helpers of the sweep against sorting and
// against their textbook definitions.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { quantileIndex, ranksOfNonNegative, ratioCi, sampleRows, selectKth, selectMany } from "../src/analysis/sweep/stats.js";

test("histogram-pass ranks and quickselect equal sorting (ties, zeros, tiny and huge values)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(0), fc.float({ min: 0, max: 1e3, noNaN: true }), fc.float({ min: 0, max: Math.fround(1e-30), noNaN: true })), { minLength: 1, maxLength: 400 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }),
      (vals, qs) => {
        const a = Float32Array.from(vals.map((v) => Math.abs(v)));
        const sorted = a.slice().sort();
        const ranks = qs.map((q) => quantileIndex(a.length, q));
        assert.deepEqual(ranksOfNonNegative(a, ranks), ranks.map((r) => sorted[r]!));
        assert.deepEqual(selectMany(a.slice(), ranks), ranks.map((r) => sorted[r]!));
        for (const r of ranks) assert.equal(selectKth(a.slice(), r), sorted[r]);
      },
    ),
    { numRuns: 300, seed: 3 },
  );
});

test("nearest-rank quantile index", () => {
  assert.equal(quantileIndex(100, 0.5), 49);
  assert.equal(quantileIndex(100, 0.95), 94);
  assert.equal(quantileIndex(1, 0.95), 0);
  assert.equal(quantileIndex(7, 0.5), 3);
});

test("row sample: seeded, distinct, sorted, the right size", () => {
  const s = sampleRows(1000, 0.1, 5);
  assert.equal(s.length, 100);
  assert.equal(new Set(s).size, 100);
  assert.deepEqual([...s], [...s].sort((a, b) => a - b));
  assert.deepEqual(sampleRows(1000, 0.1, 5), s);
  assert.equal(sampleRows(10, 1, 5).length, 10);
});

test("ratio estimator: exact with all rows; interval shrinks with more rows", () => {
  const a = Float64Array.from({ length: 50 }, (_, i) => 1 + (i % 7));
  const b = Float64Array.from({ length: 50 }, (_, i) => 2 + (i % 3));
  const full = ratioCi(a, b, 50);
  assert.equal(full.lo, full.value);
  assert.equal(full.hi, full.value);
  assert.ok(Math.abs(full.value - a.reduce((x, y) => x + y) / b.reduce((x, y) => x + y)) < 1e-15);
  const part = ratioCi(a.subarray(0, 20), b.subarray(0, 20), 1000);
  const more = ratioCi(a.subarray(0, 40), b.subarray(0, 40), 1000);
  assert.ok(part.lo < part.value && part.value < part.hi);
  assert.ok(more.hi - more.lo < part.hi - part.lo);
});
