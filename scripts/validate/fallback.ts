// The fallback predictor without calibration statistics (issue #10 item 3),
// held out one model at a time. For four models — stories260K and tinyqwen
// (their committed calibration windows, llama-imatrix files) and two
// random-weight qwen3 from gen_model.py (imatrix and KL by quantscope on the
// tinyqwen text) — the measured single-tensor KL of every matrix at
// Q2_K..Q6_K (sweep --measure-kl with the imatrix) and what is known without
// calibration: r (imatrix estimate or weight-space relRmse), kind, depth,
// and the residual-stream energies of sensitivity/energy.ts. Every candidate
// is fitted on three models and scored on the fourth. Prints docs/sweep.md's
// "Fallback without calibration" tables.
//   node --import tsx scripts/validate/fallback.ts [--cache DIR] [--write-fixture]
// npm run validate runs it after sweep.ts (fallbackSection, with sweep.ts's measurements).
// --write-fixture writes test/fixtures/fallback-kl.json (what the tests refit and score);
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openSource, readImatrix } from "../../src/io/source.js";
import { layerCount } from "../../src/analysis/sweep/sweep.js";
import { modelScale, reachOf, residualEnergies } from "../../src/analysis/sensitivity/energy.js";
import type { SweepRecord } from "../../src/analysis/sweep/types.js";
import { fx, measuredRecords, STORIES_CAL, TINYQWEN_CAL } from "./data.js";
import { FALLBACK_MODELS, fallbackScores, modelScaleLog, shippedScale, type FallbackFixture, type FallbackRecord, type FoldScore } from "./fallback-score.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));

interface ModelData { name: string; model: string; imatrix: string; records: SweepRecord[] }

/** A generated random-weight qwen3 (gen_model.py), its imatrix (16 chunks of 256) and measured KLs, by the CLI, cached. */
function generated(cache: string, log: (s: string) => void, name: string, gen: readonly string[], klTokens: number): ModelData {
  mkdirSync(cache, { recursive: true });
  const model = join(cache, `${name}.gguf`), imatrix = join(cache, `${name}-imatrix.gguf`), kl = join(cache, `${name}-kl.json`);
  const text = fx("tinyqwen/calibration.txt");
  const cli = (a: string[]) => execFileSync(process.execPath, ["--import", "tsx", join(repo, "src/cli/main.ts"), ...a], { stdio: ["ignore", "ignore", "inherit"] });
  if (!existsSync(model)) execFileSync("python3", [fx("../tools/gen_model.py"), ...gen, "--vocab-from", fx("models/tinyqwen-f16.gguf"), model], { stdio: "ignore" });
  if (!existsSync(imatrix)) cli(["imatrix", model, "-f", text, "-c", "256", "--chunks", "16", "-o", imatrix, "--no-progress"]);
  if (!existsSync(kl)) {
    log(`${name}: measuring single-tensor KLs`);
    cli(["sweep", model, "--imatrix", imatrix, "--types", "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K", "--measure-kl", text, "--chunk", "256", "--kl-tokens", `0:${klTokens}`, "--json", "--no-progress", "-o", kl]);
  }
  return { name, model, imatrix, records: (JSON.parse(readFileSync(kl, "utf8")) as { records: SweepRecord[] }).records };
}


/** The records with their reach (imatrix and weights-only energies) and logit variance, only the fields the fits read. */
function features(md: ModelData, log: (s: string) => void): FallbackRecord[] {
  const src = openSource(md.model);
  try {
    const n = layerCount(src);
    const ei = residualEnergies(src, n, readImatrix(md.imatrix)), ew = residualEnergies(src, n);
    if (!ei || !ew) throw new Error(`${md.name}: no residual energies`);
    log(`${md.name}: E‖h_L‖² ${ei.final.toPrecision(3)} (imatrix) / ${ew.final.toPrecision(3)} (weights), E‖embedding‖² ${ei.embedding.toPrecision(3)}, σ_z² ${ei.logitVariance.toPrecision(3)}`);
    return md.records.map((r) => {
      const head = r.gainKey === "output";
      return {
        tensor: r.tensor, kind: r.kind, gainKey: r.gainKey, layer: r.layer, nLayers: r.nLayers, requestedType: r.requestedType, type: r.type, bytes: r.bytes,
        outputRelErr: r.outputRelErr, relRmse: r.relRmse, outputErrorSource: r.outputErrorSource, measuredKl: r.measuredKl,
        ...(r.skipped ? { skipped: r.skipped } : {}),
        reach: head ? 1 : reachOf(ei, r.kind, r.layer) ?? NaN,
        reachWeights: head ? 1 : reachOf(ew, r.kind, r.layer) ?? NaN,
        logitVariance: ei.logitVariance,
        modelScale: modelScale(ei), modelScaleWeights: modelScale(ew),
      };
    });
  } finally {
    src.close();
  }
}

export interface FallbackOptions {
  /** Where the generated models, their imatrices and KL measurements are kept (reused when present). */
  readonly dir: string;
  /** stories260K's and tinyqwen's calibration measurements (STORIES_CAL, TINYQWEN_CAL), e.g. from sweep.ts. */
  readonly stories: SweepRecord[];
  readonly tinyqwen: SweepRecord[];
  readonly writeFixture?: boolean;
  readonly out: (s?: string) => void;
  readonly log: (s: string) => void;
}

/** docs/sweep.md's "Fallback without calibration" section. */
export function fallbackSection(o: FallbackOptions): void {
  const { out, log } = o;
  const gen = (g: (typeof FALLBACK_MODELS)[number]) => generated(o.dir, log, g.name, g.gen!, g.klTokens!);
  const data: ModelData[] = [
    { name: "stories260K", model: fx(STORIES_CAL.fixture.model), imatrix: fx(STORIES_CAL.fixture.imatrix), records: o.stories },
    { name: "tinyqwen", model: fx(TINYQWEN_CAL.fixture.model), imatrix: fx(TINYQWEN_CAL.fixture.imatrix), records: o.tinyqwen },
    gen(FALLBACK_MODELS[2]!),
    gen(FALLBACK_MODELS[3]!),
  ];
  const fixture: FallbackFixture = {
    note: "single-tensor KLs (sweep --measure-kl, imatrix) with each record's reach, logit variance and model scale (sensitivity/energy.ts); regenerate with: node --import tsx scripts/validate/fallback.ts --cache DIR --write-fixture",
    sets: data.map((md, i) => ({ name: md.name, how: FALLBACK_MODELS[i]!.how, records: features(md, log) })),
  };
  if (o.writeFixture) {
    const path = join(repo, "test/fixtures/fallback-kl.json");
    // 7 significant digits keep the file small; refits move by < 1e-6
    writeFileSync(path, JSON.stringify(fixture, (_k, v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(7)) : v)) + "\n");
    log(`wrote ${path}`);
  }

  out("### Fallback without calibration: held out a model at a time");
  out();
  const f3 = (x: number) => x.toFixed(3), f2 = (x: number) => x.toFixed(2), sg = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
  const cell = (s: FoldScore) => `${f3(s.spearman)} / **${f3(s.within)}** / ${f2(s.medianAbsLog10)} (${sg(s.signedLog10)}) / ${f2(s.regret)}`;
  const sc = fallbackScores(fixture);
  const names = fixture.sets.map((s) => s.name);
  for (const scen of ["imatrix", "weights"] as const) {
    out(`Leave one model out, r from ${scen === "imatrix" ? "the imatrix estimate (energies from the imatrix)" : "the weights alone (relRmse; energies from the weights)"}; each cell: Spearman overall / **within type** / median |log10(pred/meas)| (mean log10: the overall scale error) / plan regret:`);
    out();
    out(`| predictor | ${names.join(" | ")} | mean |`);
    out(`|---|${names.map(() => "---|").join("")}---|`);
    for (const row of sc[scen]) {
      const m = (g: (s: FoldScore) => number) => row.folds.reduce((a, s) => a + g(s), 0) / row.folds.length;
      out(`| ${row.label} | ${row.folds.map(cell).join(" | ")} | ${f3(m((s) => s.spearman))} / **${f3(m((s) => s.within))}** / ${f2(m((s) => s.medianAbsLog10))} / ${f2(m((s) => s.regret))} |`);
    }
    out();
  }
  out(`Fitted on the two trained models only, scored on the random ones (imatrix r): ${sc.trainedOnly.map((x) => `${x.label} → ${x.model}: ${cell(x.score)}`).join("; ")}.`);
  out();
  const k = modelScaleLog(fixture);
  out(`MODEL_SCALE_LOG (the shipped gain tables scaled by each model's S, unbiased on average over the four models): imatrix ${k.imatrix.toFixed(3)}, weights ${k.weights.toFixed(3)}.`);
  out();
  out("The shipped gain tables (fitted on stories260K and tinyqwen) on each model, median |log10(pred/meas)| (mean log10), unscaled → scaled (MODEL_SCALE_LOG is fitted on all four models, so no row here is held out):");
  out();
  out("| model | imatrix r | weights-only r |");
  out("|---|---|---|");
  const ss = shippedScale(fixture);
  for (const name of names) {
    const c = (scen: string) => { const x = ss.find((q) => q.model === name && q.scen === scen)!; return `${f2(x.unscaled[0])} (${sg(x.unscaled[1])}) → ${f2(x.scaled[0])} (${sg(x.scaled[1])})`; };
    out(`| ${name} | ${c("imatrix")} | ${c("weights")} |`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const opt = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
  const cache = opt("--cache");
  const dir = cache ?? mkdtempSync(join(tmpdir(), "qs-fallback-"));
  const t0 = Date.now();
  const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${s}\n`);
  fallbackSection({
    dir, stories: measuredRecords(STORIES_CAL, cache, log), tinyqwen: measuredRecords(TINYQWEN_CAL, cache, log),
    writeFixture: args.includes("--write-fixture"), out: (s = "") => process.stdout.write(s + "\n"), log,
  });
  log("done");
}
