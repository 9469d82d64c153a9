// What llama-quantize's menu costs a plan without an imatrix (docs/sensitivity.md, "Plans from
// calibration, measured"). llama-quantize refuses IQ3_XXS and IQ2_S for block tensors without
// --imatrix (tensor_requires_imatrix), although ggml quantizes both without one (x² weights). This
// plans tinyqwen at a mix's file size twice from the same calibration statistics: over the menu
// llama-quantize allows without an imatrix, and over that menu plus IQ3_XXS / IQ2_S (a file
// llama-quantize would not write). Both write tensor-type files; scripts/validate/plans.sh's
// `quantscope eval --tensor-types` scores them on the held-out half like the other plans.
//   node --import tsx scripts/validate/plan-menu.ts CALIB.gguf FTYPE OUTDIR
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCalib } from "../../src/model/calibrate/calib-file.js";
import { mixModelFromSource, parseMix } from "../../src/analysis/plan/mixes.js";
import { sizeMix } from "../../src/analysis/plan/mix-menu.js";
import { planCandidateTypes } from "../../src/analysis/plan/plan.js";
import { sweepFile } from "../../src/pipeline/sweep.js";
import { fileSizing, planSweptModel } from "../../src/pipeline/plan.js";

const [calibPath, ftype, out] = process.argv.slice(2);
if (!calibPath || !ftype || !out) throw new Error("usage: plan-menu.ts CALIB.gguf FTYPE OUTDIR");
const model = fileURLToPath(new URL("../../../shared/fixtures/models/tinyqwen-f16.gguf", import.meta.url));
const calib = readCalib(calibPath);
if (!calib) throw new Error(`${calibPath}: no calibration statistics`);

const allowed = planCandidateTypes(false);
const extra = ["IQ3_XXS", "IQ2_S"];
const { res, src } = await sweepFile(model, { types: [...allowed, ...extra], calib }, { jobs: 1, calibPath });
try {
  // the target: the mix's file without an imatrix (no imatrix metadata in either file)
  const target = sizeMix(parseMix(ftype), mixModelFromSource(src), { hasImatrix: false, ...fileSizing(src, undefined) }).fileBytes;
  for (const [name, menu, widened] of [["menu", allowed, false], ["widened", [...allowed, ...extra], true]] as const) {
    const only = new Set(menu);
    const records = res.records.filter((r) => only.has(r.requestedType));
    // hasImatrix only lifts the plan's filter on imatrix-only types; the sizing has no imatrix either way
    const p = planSweptModel(src, { ...res, records }, { target: { bytes: target }, hasImatrix: widened });
    writeFileSync(join(out, `${name}-${ftype}.tt`), p.tensorTypes.join("\n") + "\n");
    const used = new Map<string, number>();
    for (const c of p.plan.choices) used.set(c.type, (used.get(c.type) ?? 0) + 1);
    process.stdout.write(`${name}: ${p.plan.fileBytes} bytes (target ${target}), predicted KL ${p.plan.predictedKl.toExponential(3)}; ${[...used].map(([t, n]) => `${t} ×${n}`).join(", ")}\n`);
  }
} finally {
  src.close();
}
