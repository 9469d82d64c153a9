// The sensitivity prediction against KLs measured with the reference forward
// pass on tokens the calibration did not use (stories260K tokens 6144..6399;
// the gains were fitted on tokens 0..1023).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep.js";
import { loadForwardModel } from "../src/analysis/forward/model.js";
import { prepareKl } from "../src/analysis/forward/kl.js";
import { readTokens } from "../src/analysis/forward/tokens.js";
import { evaluate } from "../src/analysis/sensitivity-calibrate.js";
import { GAIN } from "../src/analysis/sensitivity.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

test("predicted vs measured single-tensor KL on held-out stories260K tokens", () => {
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    const fm = loadForwardModel(src);
    const toks = readTokens(fx("activations/tokens_ctx128.i32"), fm.config.vocab, 6400).slice(6144);
    const res = sweepModel(src, { types: ["Q2_K"], imatrix: readImatrix(fx("imatrix/imatrix.gguf")), kl: prepareKl(fm, toks, 128) });
    const e = evaluate(res.records, GAIN);
    console.log(JSON.stringify(e));
    assert.ok(e.n >= 30, `records ${e.n}`);
    assert.ok(e.spearman >= 0.8, `spearman ${e.spearman}`);
    assert.ok(e.spearmanWithinType >= 0.75, `within-type spearman ${e.spearmanWithinType}`);
    // within a factor of 10^0.5 for half the tensors, the model's own scale included
    assert.ok(e.medianAbsLog10 <= 0.5, `median |log10| ${e.medianAbsLog10}`);
    // and the gains beat r² alone at ranking
    assert.ok(e.spearman > e.spearmanBaseline);
  } finally {
    src.close();
  }
});
