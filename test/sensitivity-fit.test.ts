// fitGains (src/analysis/sensitivity/fit.ts) on planted data, and the
// shipped gain tables against fitGains on the committed calibration
// measurements (test/fixtures/calibration-kl.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitGains, evaluate, spearman } from "../src/analysis/sensitivity/fit.js";
import type { SweepRecord } from "../src/analysis/sweep/types.js";

/** Records whose measured KL is exactly exp(a + b·depth + offset)·r². */
function planted(nLayers: number, offset: number, gains: Record<string, { a: number; b: number }>): SweepRecord[] {
  const out: SweepRecord[] = [];
  for (const [kind, g] of Object.entries(gains)) {
    for (let l = 0; l < nLayers; l++) {
      for (const [type, r] of [["Q2_K", 0.3 + 0.01 * l], ["Q4_K", 0.08 + 0.003 * l], ["Q6_K", 0.02 + 0.001 * l]] as const) {
        const depth = l / (nLayers - 1);
        out.push({ tensor: `blk.${l}.${kind}.weight`, kind, gainKey: kind, layer: l, nLayers, type, requestedType: type, outputRelErr: r, relRmse: r,
          outputErrorSource: "imatrix", measuredKl: Math.exp(g.a + g.b * depth + offset) * r * r } as unknown as SweepRecord);
      }
    }
  }
  return out;
}

test("fitGains recovers planted per-kind gains and centred per-model offsets; keys without data keep the prior", () => {
  const truth = { attn_v: { a: -2.5, b: 0.8 }, ffn_up: { a: -2.0, b: 1.0 }, ffn_down: { a: -1.2, b: -0.4 } };
  // model A lacks ffn_down; offsets +0.3 / -0.3 (already centred)
  const A = planted(5, 0.3, { attn_v: truth.attn_v, ffn_up: truth.ffn_up });
  const B = planted(6, -0.3, truth);
  const prior = { other: { a: -1.5, b: 0 }, attn_q: { a: 7, b: 7 } };
  const { table, offsets } = fitGains([A, B], prior);
  for (const [k, g] of Object.entries(truth)) {
    assert.ok(Math.abs(table[k]!.a - g.a) < 1e-6 && Math.abs(table[k]!.b - g.b) < 1e-6, `${k}: ${JSON.stringify(table[k])} vs ${JSON.stringify(g)}`);
  }
  assert.ok(Math.abs(offsets[0]! - 0.3) < 1e-6 && Math.abs(offsets[1]! + 0.3) < 1e-6, `offsets ${offsets}`);
  assert.deepEqual(table.attn_q, { a: 7, b: 7 });
  assert.deepEqual(table.other, { a: -1.5, b: 0 });
  // a single model: no offset, exact fit of its own data
  const one = fitGains([A], prior);
  assert.ok(Math.abs(one.table.attn_v!.a - (truth.attn_v.a + 0.3)) < 1e-9, JSON.stringify(one.table.attn_v));
  // and evaluate() on the planted data with the true table: perfect ranking, zero error after the model's scale
  const e = evaluate(B, { ...prior, ...truth });
  assert.equal(e.n, B.length);
  assert.ok(Math.abs(e.spearman - 1) < 1e-12 && e.medianAbsLog10Shifted < 1e-9, JSON.stringify(e));
  assert.ok(Math.abs(e.shiftLog10 + 0.3 / Math.LN10) < 1e-9, `shift ${e.shiftLog10}`);
});

test("spearman: hand-checked values, ties averaged", () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // ranks (0,1,2,3) vs (1,0,3,2): d² = 4 → 1 − 6·4/(4·15) = 0.6
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [2, 1, 4, 3]) - 0.6) < 1e-12);
  // ties: b's ranks (0.5, 0.5, 2, 3); deviations (−1, −1, 0.5, 1.5) against (−1.5, −0.5, 0.5, 1.5): 4.5 / sqrt(5 · 4.5)
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [5, 5, 6, 7]) - 4.5 / Math.sqrt(5 * 4.5)) < 1e-12);
});
