// Plans on the real fixture models: budget, llama.cpp's block-fit rules,
// the emitted tensor-type file, the standard-mix sizes, and the goal — at
// Q4_K_M's size, lower measured KL than Q4_K_M (reference forward pass,
// held-out tokens not used for calibrating the sensitivity model).
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep.js";
import { plan, planTypes, tensorTypeLines } from "../src/analysis/plan.js";
import { mixModelFromSource, standardMix } from "../src/analysis/mixes.js";
import { ggmlTypeByName } from "../src/ggml/types.js";
import { loadForwardModel } from "../src/analysis/forward/model.js";
import { prepareKl } from "../src/analysis/forward/kl.js";
import { readTokens } from "../src/analysis/forward/tokens.js";
import { measureAssignmentKl } from "../src/analysis/plan-validate.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

test("stories260K at Q4_K_M's size: fits, obeys block rules, emits one line per tensor, beats Q4_K_M's measured KL", () => {
  const model = fx("models/stories260K.gguf");
  const src = openSource(model);
  const im = readImatrix(fx("imatrix/imatrix.gguf"));
  try {
    const sweep = sweepModel(src, { imatrix: im });
    const mm = mixModelFromSource(src);
    const overhead = statSync(model).size - src.tensors().reduce((s, t) => s + t.byteSize, 0);
    const q4 = standardMix("Q4_K_M", mm);
    const shapes = new Map(mm.tensors.map((t) => [t.name, t.shape]));
    const q4bytes = q4.reduce((s, a) => {
      const t = ggmlTypeByName(a.type)!;
      return s + (shapes.get(a.tensor)!.reduce((x, y) => x * y, 1) / t.blockSize) * t.typeSize;
    }, 0);
    // quantscope's Q4_K_M size estimate vs the real file llama-quantize wrote (alignment padding differs)
    const real = statSync(fx("models/stories260K-Q4_K_M.gguf")).size;
    assert.ok(Math.abs(q4bytes + overhead - real) / real < 2e-3, `${q4bytes + overhead} vs ${real}`);
    const p = plan(sweep, { targetSize: q4bytes + overhead, overheadBytes: overhead, hasImatrix: true, mixModel: mm, mixes: ["Q4_K_M"] });
    assert.ok(p.fileBytes <= q4bytes + overhead);
    assert.equal(p.mixes[0]!.bytes, q4bytes + overhead);
    for (const c of p.choices) {
      const ne0 = shapes.get(c.tensor)![0]!;
      assert.equal(ne0 % ggmlTypeByName(c.type)!.blockSize, 0, `${c.tensor} ${c.type} fits its row`);
    }
    assert.equal(tensorTypeLines(p).length, 37);
    // the goal, on tokens 4096..5119 (calibration used 0..1023)
    const fm = loadForwardModel(src);
    const toks = readTokens(fx("activations/tokens_ctx128.i32"), fm.config.vocab, 5120).slice(4096);
    const hx = prepareKl(fm, toks, 128);
    const swept = new Set(p.choices.map((c) => c.tensor));
    const klPlan = measureAssignmentKl(src, hx, planTypes(p), im);
    const klQ4 = measureAssignmentKl(src, hx, new Map(q4.filter((a) => swept.has(a.tensor)).map((a) => [a.tensor, a.type] as [string, string])), im);
    console.log(`stories260K held-out KL: plan ${klPlan.toExponential(3)} vs Q4_K_M ${klQ4.toExponential(3)}`);
    assert.ok(klPlan < klQ4, `plan ${klPlan} vs Q4_K_M ${klQ4}`);
  } finally {
    src.close();
  }
});
