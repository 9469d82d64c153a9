// The plan pipeline (src/pipeline/plan.ts) as a library: a target named by an ftype means the size of
// the file llama-quantize writes for that ftype (checked against the real tinyqwen-Q4_K_M.gguf, made by
// llama-quantize without an imatrix), and the llama-quantize command names that ftype.
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sweepFile } from "../src/pipeline/sweep.js";
import { llamaQuantizeCommand, planSweptModel } from "../src/pipeline/plan.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MODEL = fx("models/tinyqwen-f16.gguf");
const Q4KM_BYTES = statSync(fx("models/tinyqwen-Q4_K_M.gguf")).size;

test("target Q4_K_M = the size of llama-quantize's Q4_K_M file; the plan fits it and the command names Q4_K_M", async () => {
  const { res, src } = await sweepFile(MODEL, { types: ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"] }, { jobs: 1 });
  try {
    const byMix = planSweptModel(src, res, { target: { mix: "q4_k_m" }, hasImatrix: false });
    const byBytes = planSweptModel(src, res, { target: { bytes: Q4KM_BYTES }, hasImatrix: false });
    assert.ok(byMix.plan.fileBytes <= Q4KM_BYTES, `${byMix.plan.fileBytes} <= ${Q4KM_BYTES}`);
    assert.deepEqual(byMix.tensorTypes, byBytes.tensorTypes, "an ftype target is exactly that file's size");
    assert.equal(byMix.ftype, "Q4_K_M");
    assert.equal(byBytes.ftype, "Q4_K_M"); // a byte target falls back to naming Q4_K_M
    assert.equal(llamaQuantizeCommand(byMix, { model: "m.gguf", typesFile: "t.txt" }), "llama-quantize --tensor-type-file t.txt m.gguf out.gguf Q4_K_M");
    const q3 = planSweptModel(src, res, { target: { mix: "Q3_K_M" }, hasImatrix: false });
    assert.equal(q3.ftype, "Q3_K_M");
    assert.ok(q3.plan.fileBytes < byMix.plan.fileBytes);
  } finally {
    src.close();
  }
});
