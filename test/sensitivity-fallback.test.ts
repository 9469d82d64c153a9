// The fallback prediction without calibration statistics (the gain table
// scaled to the model, src/analysis/sensitivity/gain-table.ts) against single-tensor KLs
// measured on four models (test/fixtures/fallback-kl.json, written by
// `node --import tsx scripts/validate/fallback.ts --write-fixture`):
// stories260K, tinyqwen and two random-weight qwen3 from gen_model.py.
// What is held out: in the leave-one-model-out tests every coefficient is
// fitted on the other three models; the shipped constants are fitted on all
// four (and checked to be exactly that fit).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel, layerCount } from "../src/analysis/sweep/sweep.js";
import { FALLBACK_HELD_OUT, MODEL_SCALE_LOG, predictKl } from "../src/analysis/sensitivity/gain-table.js";
import { modelScale, reachOf, residualEnergies, siluSquareMean } from "../src/analysis/sensitivity/energy.js";
import { fallbackScores, modelScaleLog, type FallbackFixture } from "../scripts/validate/fallback-score.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const fix = JSON.parse(readFileSync(new URL("./fixtures/fallback-kl.json", import.meta.url), "utf8")) as FallbackFixture;

test("fallback fixture: four models, every matrix at Q2_K..Q6_K (tinyqwen without Q5_K), with measured KL, reach and model scale", () => {
  assert.deepEqual(fix.sets.map((s) => s.name), ["stories260K", "tinyqwen", "rand-qwen3", "rand-qwen3-deep"]);
  assert.deepEqual(fix.sets.map((s) => s.records.length), [185, 176, 150, 290]);
  for (const s of fix.sets) {
    for (const r of s.records) if (!r.skipped) assert.ok(r.measuredKl! > 0 && r.reach > 0 && r.reachWeights > 0 && r.logitVariance > 0 && r.bytes > 0, `${s.name} ${r.tensor}`);
    assert.equal(new Set(s.records.map((r) => r.modelScale)).size, 1, `${s.name}: one model scale`);
  }
});

test("the fixture's reach and logit variance are what residualEnergies computes now (stories260K, tinyqwen)", () => {
  for (const [i, model, im] of [[0, "models/stories260K.gguf", "imatrix/imatrix.gguf"], [1, "models/tinyqwen-f16.gguf", "tinyqwen/imatrix.gguf"]] as const) {
    const src = openSource(fx(model));
    try {
      const ei = residualEnergies(src, layerCount(src), readImatrix(fx(im)))!, ew = residualEnergies(src, layerCount(src))!;
      for (const r of fix.sets[i]!.records) {
        const head = r.gainKey === "output";
        const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b); // the fixture keeps 7 digits
        assert.ok(close(r.reach, head ? 1 : reachOf(ei, r.kind, r.layer)!), `${r.tensor} reach`);
        assert.ok(close(r.reachWeights, head ? 1 : reachOf(ew, r.kind, r.layer)!), `${r.tensor} reachWeights`);
        assert.ok(close(r.logitVariance, ei.logitVariance), `${r.tensor} logitVariance`);
        assert.ok(close(r.modelScale, modelScale(ei)) && close(r.modelScaleWeights, modelScale(ew)), `${r.tensor} modelScale`);
      }
    } finally {
      src.close();
    }
  }
});

test("E[silu(g)²] for Gaussian g (the weights-only FFN energy) against a Monte Carlo estimate", () => {
  // independent computation: seeded Box-Muller samples (mulberry32), 200k of them (standard error ≤ 0.5 %)
  let s = 12345;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  for (const sigma2 of [0.25, 1, 4]) {
    let acc = 0;
    const n = 200000;
    for (let i = 0; i < n; i++) {
      const g = Math.sqrt(sigma2) * Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
      const silu = g / (1 + Math.exp(-g));
      acc += silu * silu;
    }
    assert.ok(Math.abs(siluSquareMean(sigma2) / (acc / n) - 1) < 0.02, `σ² ${sigma2}: ${siluSquareMean(sigma2)} vs ${acc / n}`);
  }
});

test("the shipped MODEL_SCALE_LOG is the fit on the four models' measurements", () => {
  const k = modelScaleLog(fix);
  // printed to 3 decimals
  assert.ok(Math.abs(k.imatrix - MODEL_SCALE_LOG.imatrix) <= 6e-4 && Math.abs(k.weights - MODEL_SCALE_LOG.weights) <= 6e-4, JSON.stringify(k));
});

test("leave one model out: the model scale cuts the held-out scale error (median |log10|) on average by a third or more, ranking and plans unchanged", () => {
  const sc = fallbackScores(fix);
  for (const scen of ["imatrix", "weights"] as const) {
    const base = sc[scen][0]!, scaled = sc[scen].find((r) => r.label.includes("model scale"))!;
    assert.match(base.label, /gain table \(shipped form\)/);
    const mean = (row: typeof base, g: (f: (typeof base.folds)[number]) => number) => row.folds.reduce((a, f) => a + g(f), 0) / row.folds.length;
    assert.ok(mean(scaled, (f) => f.medianAbsLog10) < (2 / 3) * mean(base, (f) => f.medianAbsLog10), `${scen}: ${mean(scaled, (f) => f.medianAbsLog10)} vs ${mean(base, (f) => f.medianAbsLog10)}`);
    scaled.folds.forEach((f, i) => {
      // one factor per model: within-model rankings and the plans they choose are the gain table's
      assert.ok(Math.abs(f.spearman - base.folds[i]!.spearman) < 1e-12 && Math.abs(f.within - base.folds[i]!.within) < 1e-12 && Math.abs(f.regret - base.folds[i]!.regret) < 1e-12);
      assert.ok(f.medianAbsLog10 < 0.6, `${scen} ${fix.sets[i]!.name}: ${f.medianAbsLog10}`);
    });
  }
});

test("the held-out accuracy the sweep's note states (FALLBACK_HELD_OUT) is the leave-one-model-out result", () => {
  const sc = fallbackScores(fix);
  for (const scen of ["imatrix", "weights"] as const) {
    const reach = sc[scen].find((r) => r.label.includes("model scale"))!;
    const w = reach.folds.map((f) => f.within), fac = reach.folds.map((f) => 10 ** f.medianAbsLog10);
    assert.deepEqual([Math.min(...w).toFixed(2), Math.max(...w).toFixed(2)], FALLBACK_HELD_OUT[scen].within.map((x) => x.toFixed(2)), `${scen} within ${w}`);
    assert.deepEqual([Math.min(...fac).toFixed(1), Math.max(...fac).toFixed(1)], FALLBACK_HELD_OUT[scen].factor.map((x) => x.toFixed(1)), `${scen} factor ${fac}`);
  }
});

test("sweep: with an imatrix, every gain-table prediction is multiplied by the model's scale, and the note says what to expect", () => {
  const src = openSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const im = readImatrix(fx("tinyqwen/imatrix.gguf"));
    const res = sweepModel(src, { types: ["Q4_K"], tensors: /^(blk\.2\.(attn_k|ffn_down)|output)\.weight$/, imatrix: im });
    assert.equal(res.records.length, 3);
    const k = modelScale(residualEnergies(src, layerCount(src), im)!) * Math.exp(MODEL_SCALE_LOG.imatrix);
    assert.ok(Math.abs(k / (fix.sets[1]!.records[0]!.modelScale * Math.exp(MODEL_SCALE_LOG.imatrix)) - 1) < 1e-6);
    for (const r of res.records) {
      assert.ok(Math.abs(r.sensitivityScale! / k - 1) < 1e-12, r.tensor);
      const unscaled = predictKl({ kind: r.gainKey === "output" ? "output" : r.kind, layer: r.layer, nLayers: r.nLayers, outputRelErr: r.outputRelErr, source: r.outputErrorSource === "none" ? "none" : "imatrix", qkNorm: (r.gainKey ?? "").endsWith("+qknorm") });
      assert.ok(Math.abs(r.sensitivity / (unscaled * k) - 1) < 1e-12, `${r.tensor}: ${r.sensitivity} vs ${unscaled * k}`);
    }
    const note = `gain table on imatrix errors, scaled to this model for 2 tensors, gain table on weight errors, scaled to this model for 1 tensor; without calibration, `
      + `on models it was not fitted on: within-type Spearman ${FALLBACK_HELD_OUT.imatrix.within.map((x) => x.toFixed(2)).join("–")}, half the predictions within a factor ${FALLBACK_HELD_OUT.imatrix.factor.map((x) => x.toFixed(1)).join("–")}`;
    assert.ok(res.notes.some((n) => n.includes(note)), res.notes.join("\n"));
  } finally {
    src.close();
  }
});

test("sweep of a study folder (no token_embd): no model scale, the plain gain table", () => {
  const src = openSource(fileURLToPath(new URL("../examples/tinyqwen-blk0", import.meta.url)));
  try {
    const res = sweepModel(src, { types: ["Q4_K"], tensors: /attn_v/ });
    assert.ok(res.records.length > 0 && res.records.every((r) => r.sensitivityScale === undefined));
  } finally {
    src.close();
  }
});
