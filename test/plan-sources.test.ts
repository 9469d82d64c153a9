// plan says where each tensor's KL came from: `measured` when the sweep measured every candidate of the
// tensor (sweep --measure-kl; then the plan uses the measured KL), else the prediction's source
// (calib / activations / imatrix / weights). Real sweep: stories260K block 0 with its imatrix, KL measured
// on 256 of llama.cpp's recorded token ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { plan } from "../src/analysis/plan/plan.js";
import { formatPlanText } from "../src/report/plan-text.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { prepareKl } from "../src/model/forward/kl.js";
import { readTokens } from "../src/model/forward/tokens.js";
import type { SweepRecord, SweepResult } from "../src/analysis/sweep/types.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

const src = openSource(fx("models/stories260K.gguf"));
const sweep: SweepResult = sweepModel(src, {
  types: ["Q2_K", "Q4_K", "Q6_K"], imatrix: readImatrix(fx("imatrix/imatrix.gguf")), tensors: /^blk\.0\./,
  kl: prepareKl(loadForwardModel(src), readTokens(fx("activations/tokens_ctx128.i32"), 512, 256), 128),
});
src.close();

const recordOf = (recs: readonly SweepRecord[], tensor: string, type: string) => recs.filter((r) => r.tensor === tensor && r.type === type && !r.skipped);

test("with measured KL for every candidate the plan uses it and labels it measured", () => {
  assert.ok(sweep.records.filter((r) => !r.skipped).every((r) => Number.isFinite(r.measuredKl)), "the sweep measured every record");
  const p = plan(sweep, { targetBpw: 28.5 });
  assert.equal(p.choices.length, 7);
  for (const c of p.choices) {
    assert.equal(c.source, "measured");
    assert.equal(c.damage, Math.min(...recordOf(sweep.records, c.tensor, c.type).map((r) => r.measuredKl!)));
  }
  const text = formatPlanText(p);
  for (const c of p.choices) assert.match(text, new RegExp(`^${c.tensor.replace(/\./g, "\\.")} .* measured {4}`, "m"));
  assert.match(text, /from = where each KL came from: measured \(reference forward pass, sweep --measure-kl\) for 7 tensors/);
});

test("without measured KL the plan labels the prediction's source; a tensor missing one measurement falls back as a whole", () => {
  const predicted = { ...sweep, records: sweep.records.map(({ measuredKl: _m, ...r }) => r) };
  const p = plan(predicted, { targetBpw: 28.5 });
  for (const c of p.choices) {
    assert.equal(c.source, "imatrix");
    assert.equal(c.damage, Math.min(...recordOf(predicted.records, c.tensor, c.type).map((r) => r.sensitivity)));
  }
  // one record of attn_v without its measurement: attn_v compares predictions only, the others stay measured
  let dropped = false;
  const partial = { ...sweep, records: sweep.records.map((r) => {
    if (!dropped && r.tensor === "blk.0.attn_v.weight" && !r.skipped) { dropped = true; const { measuredKl: _m, ...rest } = r; return rest; }
    return r;
  }) };
  const q = plan(partial, { targetBpw: 28.5 });
  for (const c of q.choices) assert.equal(c.source, c.tensor === "blk.0.attn_v.weight" ? "imatrix" : "measured", c.tensor);
  const json = JSON.parse(JSON.stringify(q)) as { choices: { tensor: string; source: string }[] };
  assert.equal(json.choices.find((c) => c.tensor === "blk.0.attn_v.weight")!.source, "imatrix");
});
