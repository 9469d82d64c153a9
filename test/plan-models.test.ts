// Plans on the real fixture models: budget, llama.cpp's block-fit rules,
// the emitted tensor-type file, the standard-mix sizes, and the goal — at
// Q4_K_M's size, lower measured KL than Q4_K_M (reference forward pass, on
// tokens the gains were not fitted on: a token-only hold-out, since the gains
// were fitted on this model and llama-imatrix saw every token).
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { plan, planTypes, tensorTypeLines } from "../src/analysis/plan/plan.js";
import { mixModelFromSource, standardMix } from "../src/analysis/plan/mixes.js";
import { ggmlTypeByName } from "../src/ggml/types.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { prepareKl } from "../src/model/forward/kl.js";
import { readTokens } from "../src/model/forward/tokens.js";
import { measureAssignmentKl } from "../src/analysis/plan/validate.js";

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
    // the goal, on tokens 4096..5119 (the gains were fitted on 0..1023; the imatrix saw all tokens)
    const fm = loadForwardModel(src);
    const toks = readTokens(fx("activations/tokens_ctx128.i32"), fm.config.vocab, 5120).slice(4096);
    const hx = prepareKl(fm, toks, 128);
    const swept = new Set(p.choices.map((c) => c.tensor));
    const klPlan = measureAssignmentKl(src, hx, planTypes(p), im);
    const klQ4 = measureAssignmentKl(src, hx, new Map(q4.filter((a) => swept.has(a.tensor)).map((a) => [a.tensor, a.type] as [string, string])), im);
    console.log(`stories260K KL on tokens 4096..5119: plan ${klPlan.toExponential(3)} vs Q4_K_M ${klQ4.toExponential(3)}`);
    assert.ok(klPlan < klQ4, `plan ${klPlan} vs Q4_K_M ${klQ4}`);
  } finally {
    src.close();
  }
});

// ---- tinyqwen: the docs' plan ratios and additivity figures ------------------
// Measured on tokens 256..511 of activation_tokens_ctx256.i32 (the gains were
// fitted on tokens 0..255 of this model, so the model and its gains are
// in-sample; llama-imatrix saw all tokens). Figures from `npm run validate`,
// printed in docs/sweep.md.

/** [imatrix, plan/Q4_K_M ratio, its 95 % token-bootstrap interval] as in docs/sweep.md's plan table. */
const DOC_TINYQWEN_Q4KM: readonly (readonly [boolean, number, number, number])[] = [[false, 0.73, 0.54, 0.92], [true, 0.78, 0.72, 0.85]];
/** [mix, summed predicted KL, measured KL] as in docs/sweep.md's additivity paragraph. */
const DOC_ADDITIVITY: readonly (readonly [string, number, number])[] = [
  ["Q2_K", 0.369, 0.289], ["Q3_K_M", 0.108, 0.0845], ["Q4_K_M", 0.0338, 0.0267], ["Q5_K_M", 0.00913, 0.00684], ["Q6_K", 0.00280, 0.00224],
];

let tq: { src: ReturnType<typeof openSource>; im: ReturnType<typeof readImatrix>; hx: ReturnType<typeof prepareKl>; overhead: number } | null = null;
function tinyqwen() {
  if (!tq) {
    const model = fx("models/tinyqwen-f16.gguf");
    const src = openSource(model);
    const fm = loadForwardModel(src);
    const toks = readTokens(fx("tinyqwen/activation_tokens_ctx256.i32"), fm.config.vocab, 512).slice(256);
    tq = { src, im: readImatrix(fx("tinyqwen/imatrix.gguf")), hx: prepareKl(fm, toks, 256), overhead: statSync(model).size - src.tensors().reduce((s, t) => s + t.byteSize, 0) };
  }
  return tq;
}

function mixTypes(src: ReturnType<typeof openSource>, mix: string, swept: ReadonlySet<string>): Map<string, string> {
  return new Map(standardMix(mix, mixModelFromSource(src)).filter((a) => swept.has(a.tensor)).map((a) => [a.tensor, a.type] as [string, string]));
}

test("tinyqwen at Q4_K_M's size: plan / Q4_K_M measured KL within the documented ratio's token-bootstrap 95 % interval", () => {
  const { src, im, hx, overhead } = tinyqwen();
  const mm = mixModelFromSource(src);
  const shapes = new Map(mm.tensors.map((t) => [t.name, t.shape]));
  const size = overhead + standardMix("Q4_K_M", mm).reduce((s, a) => {
    const t = ggmlTypeByName(a.type)!;
    return s + (shapes.get(a.tensor)!.reduce((x, y) => x * y, 1) / t.blockSize) * t.typeSize;
  }, 0);
  // docs/sweep.md: ratio and its 95 % interval from a block bootstrap over positions (scripts/validate/noise.ts):
  // a change of the plan or of the measurement smaller than the token noise passes, a larger one fails.
  for (const [withIm, doc, lo, hi] of DOC_TINYQWEN_Q4KM) {
    const sweep = sweepModel(src, { imatrix: withIm ? im : undefined });
    const p = plan(sweep, { targetSize: size, overheadBytes: overhead, hasImatrix: withIm, mixModel: mm, mixes: ["Q4_K_M"] });
    assert.ok(p.fileBytes <= size);
    const swept = new Set(p.choices.map((c) => c.tensor));
    const klPlan = measureAssignmentKl(src, hx, planTypes(p), withIm ? im : undefined);
    const klMix = measureAssignmentKl(src, hx, mixTypes(src, "Q4_K_M", swept), withIm ? im : undefined);
    const ratio = klPlan / klMix;
    console.log(`tinyqwen imatrix=${withIm}: plan ${klPlan.toExponential(3)} / Q4_K_M ${klMix.toExponential(3)} = ${ratio.toFixed(3)} (docs ${doc}, interval ${lo}-${hi})`);
    assert.ok(ratio >= lo && ratio <= hi, `imatrix=${withIm}: ratio ${ratio} outside the documented interval ${lo}-${hi} around ${doc}`);
  }
});

test("tinyqwen additivity: summed single-tensor predictions vs the measured KL of each whole mix, as documented", () => {
  const { src, im, hx } = tinyqwen();
  for (const [mix, docPred, docMeas] of DOC_ADDITIVITY) {
    const assign = standardMix(mix, mixModelFromSource(src));
    const types = [...new Set(assign.map((a) => a.type).filter((t) => t !== "F32"))];
    const sweep = sweepModel(src, { imatrix: im, types });
    const swept = new Set(sweep.records.map((r) => r.tensor));
    let pred = 0;
    for (const a of assign) {
      if (!swept.has(a.tensor)) continue;
      const r = sweep.records.find((x) => x.tensor === a.tensor && x.type === a.type && !x.skipped);
      assert.ok(r, `${mix}: ${a.tensor} ${a.type} swept`);
      pred += r.sensitivity;
    }
    const meas = measureAssignmentKl(src, hx, mixTypes(src, mix, swept), im);
    console.log(`${mix}: predicted ${pred.toPrecision(4)} measured ${meas.toPrecision(4)}`);
    // the docs print 3 significant digits
    assert.ok(Math.abs(pred - docPred) <= 0.006 * docPred, `${mix}: predicted ${pred} vs docs ${docPred}`);
    assert.ok(Math.abs(meas - docMeas) <= 0.006 * docMeas, `${mix}: measured ${meas} vs docs ${docMeas}`);
    // the claim: the sum predicts the whole mix's KL within 35 % (the unscaled in-sample table was within
    // 30 %; the model scale, fitted over four models, lifts tinyqwen's level by 1.14: docs/sweep.md)
    assert.ok(Math.abs(Math.log(pred / meas)) <= Math.log(1.35), `${mix}: ${pred} / ${meas}`);
  }
  tq?.src.close();
});
