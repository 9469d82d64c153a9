// The bundled example (tinyqwen block 0) carries tinyqwen's calibration statistics
// (examples/tinyqwen-blk0/calib.gguf, made by `quantscope calibrate tinyqwen-f16.gguf -f
// tinyqwen/calibration.txt -c 256 --chunks 16`). With them the predicted single-tensor KL at Q2_K must
// order block 0's tensors as llama.cpp measured them (quantizing one tensor at a time to Q2_K:
// ffn_down by far the most damaging, KLD 0.0205; attn_k and attn_q the least, ≈ 0.0019).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { readCalib } from "../src/model/calibrate/calib-file.js";

const EXAMPLE = fileURLToPath(new URL("../examples/tinyqwen-blk0", import.meta.url));
const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

test("bundled example: calibrated predictions put ffn_down first and attn_q/attn_k last, as llama.cpp measures", () => {
  const src = openSource(EXAMPLE);
  try {
    const calib = readCalib(`${EXAMPLE}/calib.gguf`);
    assert.ok(calib, "calib.gguf holds calibration statistics");
    const res = sweepModel(src, { types: ["Q2_K"], calib: calib! });
    const order = [...res.records].sort((a, b) => b.sensitivity! - a.sensitivity!).map((r) => r.tensor.replace(/^blk\.0\.|\.weight$/g, ""));
    assert.ok(res.records.every((r) => r.sensitivitySource === "calib"), "every prediction from the calibration statistics");
    assert.equal(order[0], "ffn_down", order.join(" > "));
    assert.deepEqual(order.slice(-2).sort(), ["attn_k", "attn_q"], order.join(" > "));
  } finally {
    src.close();
  }
});

test("report on the example folder uses its calib.gguf and leads with ffn_down", () => {
  const out = execFileSync(process.execPath, ["--import", "tsx", CLI, "report", EXAMPLE, "--out", "/dev/null"], { encoding: "utf8" });
  assert.match(out, /predicted KL from the calibration statistics in .*calib\.gguf \(found in the folder/);
  assert.match(out, /most sensitive tensors \(predicted KL at Q2_K, from calib\): blk\.0\.ffn_down\.weight/);
});

test("bundled example: a plan with its mix's own types says so instead of printing a −0.0 % change", async () => {
  const { buildReport } = await import("../src/pipeline/report.js");
  const built = buildReport(EXAMPLE, { types: ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"], outputTokens: 16 });
  const lines = built.diagnosis.summary.filter((f) => f.id === "plan-vs-mix");
  assert.ok(lines.length >= 1, "the report compares its plans with the mixes");
  for (const f of lines) {
    const changed = (f.evidence as { changed: string[] }).changed;
    if (changed.length === 0) assert.match(f.text, /the plan picks Q\d_K_[SML]'s own types for these \d+ tensors/);
    else assert.match(f.text, new RegExp(`changing ${changed.length} of \\d+ tensors`));
    assert.doesNotMatch(f.text, /[−+]0\.0 %/);
  }
});
