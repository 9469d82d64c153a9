// The sensitivity prediction (predicted KL = gain × r²) against single-tensor
// KLs measured with the reference forward pass. What each test holds out:
//
// 1. Leave one model out (no forward pass): fitGains on one model's committed
//    calibration measurements (test/fixtures/calibration-kl.json, written by
//    `npm run validate -- --write-fixture`) predicts the other model. Gain keys
//    the training model lacks come from a prior fitted on nothing
//    (NEUTRAL_PRIOR). This is the only check here of gains on an unseen model.
// 2. The shipped tables are what fitGains gives on those measurements.
// 3. Token-only hold-out (forward pass): stories260K tokens 6144..6399, Q2_K.
//    Held out are the tokens only: the same model, tensors and type the gains
//    were fitted on (tokens 0..1023), and the imatrix (hence r) was computed by
//    llama-imatrix on all 14848 tokens, this window included, so the predicted
//    values are those of the calibration run; only the measured KL is new.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { prepareKl } from "../src/model/forward/kl.js";
import { readTokens } from "../src/model/forward/tokens.js";
import { evaluate, fitGains, R_WEIGHTS } from "../src/analysis/sensitivity/fit.js";
import { GAIN, GAIN_WEIGHTS, type GainCoefficients } from "../src/analysis/sensitivity/gain-table.js";
import type { SweepRecord } from "../src/analysis/sweep/types.js";
import { fixtureRecords, NEUTRAL_PRIOR, type CalibrationFixture } from "../scripts/validate/calibration.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const cal = JSON.parse(readFileSync(new URL("./fixtures/calibration-kl.json", import.meta.url), "utf8")) as CalibrationFixture;
const S = fixtureRecords(cal, "stories260K-cal");
const T = fixtureRecords(cal, "tinyqwen-cal");

test("calibration fixture: the documented data sets (stories260K 0..1023 × Q2_K..Q6_K, tinyqwen 0..255 × Q2_K,Q3_K,Q4_K,Q6_K)", () => {
  assert.equal(evaluate(S, GAIN).n, 160);
  assert.equal(evaluate(T, GAIN).n, 176);
});

test("the committed calibration measurements are what sweep --measure-kl measures now (two stories260K tensors)", () => {
  // a consistency check of the fixture against the current code (the forward pass itself is checked
  // against llama.cpp in forward-pass.test.ts): if this fails, rerun `npm run validate -- --write-fixture`
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    const fm = loadForwardModel(src);
    const toks = readTokens(fx("activations/tokens_ctx128.i32"), fm.config.vocab, 1024);
    const res = sweepModel(src, { types: ["Q2_K"], tensors: /^blk\.4\.(attn_v|ffn_up)\.weight$/, imatrix: readImatrix(fx("imatrix/imatrix.gguf")), kl: prepareKl(fm, toks, 128) });
    assert.equal(res.records.length, 2);
    for (const r of res.records) {
      const c = S.find((x) => x.tensor === r.tensor && x.requestedType === r.requestedType)!;
      assert.equal(c.type, r.type);
      // The fixture was measured when the forward pass summed matmuls in f64 JS loops; they now run
      // in f32 WASM SIMD lanes, which moves a measured KL by ~5e-5 relative (seen: 4.7e-5). 1e-3
      // still catches any change of method (a different token window or type moves it by > 1e-2).
      assert.ok(Math.abs(c.measuredKl! - r.measuredKl!) <= 1e-3 * r.measuredKl!, `${r.tensor}: fixture ${c.measuredKl} vs now ${r.measuredKl}`);
      assert.ok(Math.abs(c.outputRelErr - r.outputRelErr) <= 1e-12 * r.outputRelErr, `${r.tensor}: r ${c.outputRelErr} vs ${r.outputRelErr}`);
    }
  } finally {
    src.close();
  }
});

test("the shipped GAIN and GAIN_WEIGHTS tables are fitGains on the committed measurements of both models", () => {
  const close = (shipped: Readonly<Record<string, GainCoefficients>>, fitted: Record<string, GainCoefficients>) => {
    for (const [k, g] of Object.entries(shipped)) {
      // the tables are printed to 3 decimals
      assert.ok(Math.abs(g.a - fitted[k]!.a) <= 6e-4 && Math.abs(g.b - fitted[k]!.b) <= 6e-4, `${k}: shipped ${JSON.stringify(g)} vs fitted ${JSON.stringify(fitted[k])}`);
    }
  };
  close(GAIN, fitGains([S, T], GAIN).table);
  close(GAIN_WEIGHTS, fitGains([S, T], GAIN_WEIGHTS, R_WEIGHTS).table);
});

/** The gains of a leave-one-model-out fit: fitted on `train` alone, nothing else but the data-free fallback. */
function lomoTable(train: SweepRecord[]) {
  const table = fitGains([train], NEUTRAL_PRIOR).table;
  const trained = new Set(train.map((r) => r.gainKey ?? r.kind));
  for (const k of Object.keys(table)) {
    // held out means: no parameter from the target model (e.g. via the shipped joint table as prior)
    assert.ok(trained.has(k) || (k === "other" && table[k] === NEUTRAL_PRIOR.other), `gain key ${k} did not come from the training model`);
  }
  return table;
}

test("leave one model out: gains fitted on one model, scored on the other (docs/sweep.md's cross-model rows)", () => {
  const sToT = evaluate(T, lomoTable(S));
  const tToS = evaluate(S, lomoTable(T));
  const sS = evaluate(S, fitGains([S], NEUTRAL_PRIOR).table), tT = evaluate(T, fitGains([T], NEUTRAL_PRIOR).table);
  console.log(JSON.stringify({ sToT, tToS }));
  // The documented claims (figures regenerated by `npm run validate`): across models the overall ranking
  // stays >= 0.8 (it is mostly the ranking of types, which r² alone gets too) ...
  assert.ok(sToT.spearman >= 0.8 && tToS.spearman >= 0.8, `${sToT.spearman} ${tToS.spearman}`);
  // ... half the predictions are within a factor 10^0.6 = 4 ...
  assert.ok(sToT.medianAbsLog10 <= 0.6 && tToS.medianAbsLog10 <= 0.6, `${sToT.medianAbsLog10} ${tToS.medianAbsLog10}`);
  // ... but ranking tensors within a type, what a plan needs, does not transfer: far below the in-sample fits.
  assert.ok(sToT.spearmanWithinType < tT.spearmanWithinType - 0.3 && tToS.spearmanWithinType < sS.spearmanWithinType - 0.3,
    `within type: ${sToT.spearmanWithinType} vs ${tT.spearmanWithinType}, ${tToS.spearmanWithinType} vs ${sS.spearmanWithinType}`);
});

test("token-only hold-out: stories260K tokens 6144..6399, Q2_K (same tensors, type and imatrix as the fit)", () => {
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    const fm = loadForwardModel(src);
    const toks = readTokens(fx("activations/tokens_ctx128.i32"), fm.config.vocab, 6400).slice(6144);
    const res = sweepModel(src, { types: ["Q2_K"], imatrix: readImatrix(fx("imatrix/imatrix.gguf")), kl: prepareKl(fm, toks, 128) });
    const e = evaluate(res.records, GAIN);
    console.log(JSON.stringify(e));
    assert.equal(e.n, 32); // 37 matrices minus the 5 ffn_down (rows of 172 fall back to F16)
    // Ranking: on the calibration tokens this set has Spearman ~0.87; with n = 32 the 95 % lower bound
    // (Fisher z, 1.96 / sqrt(29)) is 0.75. Regressions of the gain model fall well below it on these data:
    // depth ignored 0.51, depth reversed 0.53, one gain for all kinds 0.58, attn_v/ffn_gate gains swapped 0.67,
    // no gains at all (r² alone) 0.17.
    assert.ok(e.spearman >= 0.75, `spearman ${e.spearman}`);
    assert.ok(e.spearman - e.spearmanBaseline >= 0.4, `gains must beat r² alone: ${e.spearman} vs ${e.spearmanBaseline}`);
    // Scale: this model sits 10^0.22 above the joint table's average model (per-model offset of the fit);
    // a factor 3 (0.48) more than that is a regression. Shape: after removing the scale, half the tensors
    // within a factor 10^0.2 = 1.6 (0.11 here; depth ignored 0.26, no gains 0.32).
    assert.ok(Math.abs(e.shiftLog10) <= 0.7, `scale log10(measured/predicted) ${e.shiftLog10}`);
    assert.ok(e.medianAbsLog10Shifted <= 0.2, `median |log10| after the scale ${e.medianAbsLog10Shifted}`);
  } finally {
    src.close();
  }
});
