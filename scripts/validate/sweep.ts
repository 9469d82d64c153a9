// npm run validate: regenerates every figure of docs/sweep.md's "Validation"
// and "Plan vs the standard mixes" sections from the shared fixtures, and
// prints them as the docs show them (markdown). Nothing is read from the docs
// or from earlier runs unless --cache DIR is given (then the slow
// single-tensor KL measurements are stored there and reused).
//
//   node --import tsx scripts/validate/sweep.ts [--cache DIR] [--part validation|plan|fallback|all]
//        [--write-fixture]   (also writes test/fixtures/calibration-kl.json and fallback-kl.json for the CI tests)
//
// What is in-sample and what is held out is printed with every row:
// * the gain tables are fitted on stories260K tokens 0-1023 and tinyqwen tokens 0-255;
// * both imatrices were computed by llama-imatrix on ALL tokens of their text, including
//   every window used here, so no row is held out from the imatrix;
// * "leave one model out" rows fit on one model (fitGains) and score on the other; the only
//   gains they do not fit are those of kinds the training model lacks, which come from a prior
//   that saw no data (the fixed fallback `other`; +qknorm keys fall back to the plain kind).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix, type Imatrix, type TensorSource } from "../../src/io/source.js";
import { sweepModel } from "../../src/analysis/sweep/sweep.js";
import { calibrationRecords, evaluate, fitGains, R_OUTPUT, R_WEIGHTS, type CalibrationReport, type RSelector } from "../../src/analysis/sensitivity/fit.js";
import { GAIN, GAIN_ACTIVATIONS, GAIN_WEIGHTS, predictKl, type GainCoefficients } from "../../src/analysis/sensitivity/gain-table.js";
import { mixModelFromSource, standardMix } from "../../src/analysis/plan/mixes.js";
import { plan, planTypes } from "../../src/analysis/plan/plan.js";
import { measureAssignmentKl } from "../../src/analysis/plan/validate.js";
import { ggmlTypeByName } from "../../src/ggml/types.js";
import type { SweepRecord, SweepResult } from "../../src/analysis/sweep/types.js";
import type { KlHarness } from "../../src/model/forward/kl.js";
import {
  activationRecords, fx, harness, measuredRecords, STORIES, STORIES_CAL, STORIES_TOKENS_OUT, TINYQWEN, TINYQWEN_CAL,
  type KlDataset, type ModelFixture,
} from "./data.js";
import { mean, perPositionKl, ratioInterval } from "./noise.js";
import { calibrationFixture, NEUTRAL_PRIOR } from "./calibration.js";
import { fallbackSection } from "./fallback.js";

type Table = Readonly<Record<string, GainCoefficients>>;
const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const cache = opt("--cache");
const part = opt("--part") ?? "all";
const t0 = Date.now();
const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${s}\n`);
const out = (s = "") => process.stdout.write(s + "\n");

const f3 = (x: number) => x.toFixed(3);
const f2 = (x: number) => x.toFixed(2);
const e2 = (x: number) => x.toExponential(2).replace("e-", "e-");

function row(label: string, e: CalibrationReport): string {
  return `| ${label} | ${e.n} | ${f3(e.spearman)} | ${f3(e.spearmanWithinType)} | ${f2(e.medianAbsLog10)} (${f2(e.medianAbsLog10Shifted)}) | ${f2(e.p90AbsLog10)} | ${f3(e.spearmanBaseline)} |`;
}
const HEAD = [
  "| evaluation | what is held out | n | Spearman | within type | median \\|log10 err\\| (after removing the model's scale) | p90 | Spearman of r² alone |",
  "|---|---|---:|---:|---:|---:|---:|---:|",
];
function row2(label: string, heldOut: string, e: CalibrationReport): string {
  return row(`${label} | ${heldOut}`, e);
}

/** Largest |difference| between two gain tables over the keys of `a`. */
function tableDiff(a: Table, b: Table): { key: string; d: number } {
  let worst = { key: "", d: 0 };
  for (const k of Object.keys(a)) {
    const d = Math.max(Math.abs(a[k]!.a - (b[k]?.a ?? NaN)), Math.abs(a[k]!.b - (b[k]?.b ?? NaN)));
    if (!(d <= worst.d)) worst = { key: k, d };
  }
  return worst;
}

function validation(S: SweepRecord[], T: SweepRecord[], Sout: SweepRecord[]): void {
  const jointFit = fitGains([S, T], GAIN);
  const joint = jointFit.table;
  const onlyS = fitGains([S], NEUTRAL_PRIOR).table;
  const onlyT = fitGains([T], NEUTRAL_PRIOR).table;
  out("### Validation: GAIN (imatrix r)");
  out();
  const d = tableDiff(GAIN, joint);
  out(`fitGains on both calibration sets reproduces the shipped GAIN table to ${d.d.toExponential(1)} (largest difference: ${d.key}); `
    + `per-model offsets (log10): stories260K ${(jointFit.offsets[0]! / Math.LN10).toFixed(3)}, tinyqwen ${(jointFit.offsets[1]! / Math.LN10).toFixed(3)}.`);
  const keysS = new Set(calibrationRecords(S).map((r) => r.gainKey ?? r.kind)), keysT = new Set(calibrationRecords(T).map((r) => r.gainKey ?? r.kind));
  const onlyInS = [...keysS].filter((k) => !keysT.has(k)), onlyInT = [...keysT].filter((k) => !keysS.has(k));
  out(`Gain keys measured only on stories260K: ${onlyInS.join(", ") || "none"}; only on tinyqwen: ${onlyInT.join(", ") || "none"} `
    + `(stories260K's ffn_down rows of 172 fall back to F16 and are left out), so the joint table's values for these keys come from one model alone.`);
  out();
  out(...[HEAD.join("\n")] as [string]);
  out(row2("joint fit → stories260K", "nothing (in-sample)", evaluate(S, joint)));
  out(row2("joint fit → tinyqwen", "nothing (in-sample)", evaluate(T, joint)));
  out(row2("fit on stories260K only → stories260K", "nothing (in-sample)", evaluate(S, onlyS)));
  out(row2("fit on tinyqwen only → tinyqwen", "nothing (in-sample)", evaluate(T, onlyT)));
  out(row2("fit on stories260K only → tinyqwen", "**the model** (leave one model out)", evaluate(T, onlyS)));
  out(row2("fit on tinyqwen only → stories260K", "**the model** (leave one model out)", evaluate(S, onlyT)));
  out(row2("joint fit → stories260K tokens 6144–6655, Q2_K and Q5_K", "tokens only (same tensors and types; the imatrix saw these tokens)", evaluate(Sout, joint)));
  out();
  // the same leave-one-model-out rows with the missing kinds taken from the shipped (joint) table: that leaks the target model
  const leakS = fitGains([S], GAIN).table, leakT = fitGains([T], GAIN).table;
  const lt = evaluate(T, leakS), ls = evaluate(S, leakT);
  out(`Leave-one-model-out with the kinds the training model lacks taken from the shipped joint table instead (which was fitted on the target model too, so not held out): `
    + `→ tinyqwen within type ${f3(lt.spearmanWithinType)}, median |log10| ${f2(lt.medianAbsLog10)}; → stories260K ${f3(ls.spearmanWithinType)}, ${f2(ls.medianAbsLog10)}.`);
  // kind only, no depth (single-model fits, in-sample)
  const flat = (rs: SweepRecord[]) => rs.map((r) => ({ ...r, layer: null }));
  out(`Kind only, without depth (single-model fits, in-sample): within type ${f3(evaluate(flat(S), fitGains([flat(S)], NEUTRAL_PRIOR).table).spearmanWithinType)} on stories260K, `
    + `${f3(evaluate(flat(T), fitGains([flat(T)], NEUTRAL_PRIOR).table).spearmanWithinType)} on tinyqwen.`);
  out();
  // GAIN_WEIGHTS
  const jw = fitGains([S, T], GAIN_WEIGHTS, R_WEIGHTS).table;
  const dw = tableDiff(GAIN_WEIGHTS, jw);
  const ws = evaluate(S, jw, R_WEIGHTS), wt = evaluate(T, jw, R_WEIGHTS);
  out(`GAIN_WEIGHTS (weight-space r; refit reproduces the shipped table to ${dw.d.toExponential(1)}, ${dw.key}), in-sample: → stories260K Spearman ${f3(ws.spearman)}, within type ${f3(ws.spearmanWithinType)}; → tinyqwen ${f3(wt.spearman)} / ${f3(wt.spearmanWithinType)}.`);
}

/** tinyqwen's block 3 dumps are stored under block-0 names: a folder that names them by their real block. */
function tinyqwenActivationDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "qs-validate-act-"));
  for (const [blk, folder] of [[0, "seed-blk0"], [3, "seed-blk3"]] as const) {
    for (const input of ["attn_input", "attn_output_input", "ffn_input", "ffn_down_input"]) {
      symlinkSync(fx(`tinyqwen/${folder}/data/act_blk0_${input}.f32bin`), join(dir, `act_blk${blk}_${input}.f32bin`));
    }
  }
  return dir;
}

function activationValidation(S: SweepRecord[], T: SweepRecord[]): void {
  const join1 = (act: SweepRecord[], kl: SweepRecord[]) => {
    const m = new Map(kl.map((r) => [`${r.tensor}|${r.requestedType}`, r.measuredKl]));
    return act.map((r) => ({ ...r, measuredKl: m.get(`${r.tensor}|${r.requestedType}`) }));
  };
  // r on the first 1024 dumped rows, as `sweep --activations` does: stories260K tokens 0-1023 (= its KL window),
  // tinyqwen all 512 dumped rows, tokens 0-511 (its KL window is 0-255); this is how the shipped table was fitted
  const Sa = join1(activationRecords(STORIES_CAL, fx("activations"), 1024), S);
  const Ta = join1(activationRecords(TINYQWEN_CAL, tinyqwenActivationDir(), 1024), T);
  const ja = fitGains([Sa, Ta], GAIN).table;
  const da = tableDiff(Object.fromEntries(Object.entries(GAIN_ACTIVATIONS).filter(([k]) => k in ja && !["output", "token_embd", "other"].includes(k))), ja);
  const es = evaluate(Sa, ja), et = evaluate(Ta, ja), eg = evaluate(Sa, GAIN);
  out(`GAIN_ACTIVATIONS (r measured on the dumped activations: stories260K blocks 0–4 on tokens 0–1023, tinyqwen blocks 0 and 3 on all 512 dumped tokens 0–511 while its KL is on 0–255; refit vs shipped table: ${da.d.toExponential(1)}, ${da.key}), in-sample: `
    + `→ stories260K (${es.n} records) Spearman ${f3(es.spearman)}, within type ${f3(es.spearmanWithinType)}, median |log10| ${f2(es.medianAbsLog10)}; `
    + `→ tinyqwen (${et.n}) ${f3(et.spearman)} / ${f3(et.spearmanWithinType)} / ${f2(et.medianAbsLog10)}. `
    + `Using GAIN on activation-measured r instead: ${f3(eg.spearman)} / ${f3(eg.spearmanWithinType)} / ${f2(eg.medianAbsLog10)} on stories260K.`);
  out();
}

// ---- plans and mixes -------------------------------------------------------

interface Ctx { f: ModelFixture; window: [number, number]; src: TensorSource; hx: KlHarness; im: Imatrix; overhead: number; sweeps: Map<string, SweepResult>; kls: Map<string, Float64Array> }

function context(f: ModelFixture, start: number, count: number): Ctx {
  const { hx, src } = harness(f, start, count);
  const overhead = statSync(fx(f.model)).size - src.tensors().reduce((s, t) => s + t.byteSize, 0);
  return { f, window: [start, count], src, hx, im: readImatrix(fx(f.imatrix)), overhead, sweeps: new Map(), kls: new Map() };
}

function sweepOf(c: Ctx, withImatrix: boolean, types?: readonly string[]): SweepResult {
  const key = `${withImatrix}|${types?.join(",") ?? "default"}`;
  let s = c.sweeps.get(key);
  if (!s) c.sweeps.set(key, s = sweepModel(c.src, { imatrix: withImatrix ? c.im : undefined, types }));
  return s;
}

function mixBytes(c: Ctx, mix: string): number {
  const mm = mixModelFromSource(c.src);
  const shapes = new Map(mm.tensors.map((t) => [t.name, t.shape]));
  return c.overhead + standardMix(mix, mm).reduce((s, a) => {
    const t = ggmlTypeByName(a.type)!;
    return s + (shapes.get(a.tensor)!.reduce((x, y) => x * y, 1) / t.blockSize) * t.typeSize;
  }, 0);
}

function mixAssignment(c: Ctx, mix: string, swept: ReadonlySet<string>): Map<string, string> {
  return new Map(standardMix(mix, mixModelFromSource(c.src)).filter((a) => swept.has(a.tensor)).map((a) => [a.tensor, a.type] as [string, string]));
}

/**
 * Per-position KL of an assignment (its mean is measureAssignmentKl's value: checked on the first two).
 * Cached in memory and, with --cache, on disk under a hash of everything it depends on.
 */
function measuredKlOf(c: Ctx, _label: string, assignment: ReadonlyMap<string, string>, withImatrix: boolean): Float64Array {
  const sig = JSON.stringify([c.f, c.hx.tokens.length, c.window, withImatrix, [...assignment].sort()]);
  const key = createHash("sha1").update(sig).digest("hex").slice(0, 16);
  let k = c.kls.get(key);
  const file = cache ? join(cache, `kl-${key}.json`) : null;
  if (k === undefined && file && existsSync(file)) k = Float64Array.from(JSON.parse(readFileSync(file, "utf8")) as number[]);
  if (k === undefined) {
    k = perPositionKl(c.src, c.hx, assignment, withImatrix ? c.im : undefined);
    if (checks++ < 2) {
      const direct = measureAssignmentKl(c.src, c.hx, assignment, withImatrix ? c.im : undefined);
      if (Math.abs(direct - mean(k)) > 1e-9 * direct) throw new Error(`per-position KL mean ${mean(k)} != measureAssignmentKl ${direct}`);
    }
    if (file) { mkdirSync(cache!, { recursive: true }); writeFileSync(file, JSON.stringify(Array.from(k))); }
  }
  c.kls.set(key, k);
  return k;
}
let checks = 0;

/** Records with their predicted KL recomputed from another gain table (r source as in the record). */
function withTable(res: SweepResult, table: Table, weights: Table): SweepResult {
  return {
    ...res,
    records: res.records.map((r) => r.skipped ? r : {
      ...r,
      sensitivity: predictKl({ kind: r.kind, layer: r.layer, nLayers: r.nLayers, outputRelErr: r.outputErrorSource === "none" ? r.relRmse : r.outputRelErr, qkNorm: (r.gainKey ?? "").endsWith("+qknorm") },
        r.outputErrorSource === "none" ? weights : table),
    }),
  };
}

const MIXES = ["Q3_K_M", "Q4_K_M", "Q5_K_M"] as const;
const typeNotes: string[] = [];
const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

function planRows(c: Ctx, label: string, lomo: { table: Table; weights: Table } | null, lines: string[]): void {
  for (const withIm of [false, true]) {
    for (const mix of MIXES) {
      const res0 = sweepOf(c, withIm);
      const res = lomo ? withTable(res0, lomo.table, lomo.weights) : res0;
      const size = mixBytes(c, mix);
      const mm = mixModelFromSource(c.src);
      const p = plan(res, { targetSize: size, overheadBytes: c.overhead, hasImatrix: withIm, mixModel: mm, mixes: [mix] });
      const swept = new Set(p.choices.map((x) => x.tensor));
      const pp = measuredKlOf(c, `plan ${label} ${mix}|${withIm}`, planTypes(p), withIm);
      const pm = measuredKlOf(c, `${mix}|${withIm}`, mixAssignment(c, mix, swept), withIm);
      const klPlan = mean(pp), klMix = mean(pm), ratio = klPlan / klMix;
      const [lo, hi] = ratioInterval(pp, pm);
      const bold = mix === "Q4_K_M" && !lomo;
      const b = (s: string) => (bold ? `**${s}**` : s);
      const sizeCell = !withIm ? `${b(mix)} (${fmtInt(size)} B)` : b(mix);
      lines.push(`| ${c.f.name} | ${label} | ${withIm ? "yes" : "no"} | ${sizeCell} | ${b(e2(klPlan))} | ${b(e2(klMix))} | ${b(f2(ratio))}${ratio > 1 ? " (worse)" : ""} | ${f2(lo)}–${f2(hi)} |`);
      log(`${c.f.name} ${label} imatrix=${withIm} ${mix}: plan ${klPlan} mix ${klMix}`);
      if (mix === "Q4_K_M" && !lomo && !withIm) {
        const byType = new Map<string, string[]>();
        for (const [t, ty] of planTypes(p)) byType.set(ty, [...(byType.get(ty) ?? []), t.replace(/\.weight$/, "")]);
        const q4 = new Map<string, string[]>();
        for (const [t, ty] of mixAssignment(c, mix, swept)) q4.set(ty, [...(q4.get(ty) ?? []), t.replace(/\.weight$/, "")]);
        const fmt = (m: Map<string, string[]>) => [...m].sort().map(([ty, ts]) => `${ty}: ${ts.join(" ")}`).join("; ");
        typeNotes.push(`${c.f.name} plan at Q4_K_M's size, no imatrix — ${fmt(byType)}. Q4_K_M — ${fmt(q4)}.`);
      }
    }
  }
}

function additivity(c: Ctx, mixes: readonly string[]): string {
  const parts: string[] = [];
  let ratioSum = 0;
  for (const mix of mixes) {
    const mm = mixModelFromSource(c.src);
    const assign = standardMix(mix, mm);
    const types = [...new Set(assign.map((a) => a.type).filter((t) => t !== "F32"))];
    const res = sweepOf(c, true, types);
    const swept = new Set(res.records.map((r) => r.tensor));
    let pred = 0;
    for (const a of assign) {
      if (!swept.has(a.tensor)) continue;
      const r = res.records.find((x) => x.tensor === a.tensor && x.type === a.type && !x.skipped);
      if (!r) throw new Error(`${mix}: no sweep record for ${a.tensor} ${a.type}`);
      if (Number.isFinite(r.sensitivity)) pred += r.sensitivity;
    }
    const meas = mean(measuredKlOf(c, `${mix}|true`, mixAssignment(c, mix, swept), true));
    ratioSum += Math.log(pred / meas);
    parts.push(`${mix} ${pred.toPrecision(3)} / ${meas.toPrecision(3)}`);
  }
  return `${parts.join(", ")} (geometric mean of predicted / measured ${Math.exp(ratioSum / mixes.length).toFixed(2)})`;
}

function sizeCheck(f: ModelFixture, c: Ctx, file: string): string {
  const real = statSync(fx(file)).size;
  return `${f.name} Q4_K_M: estimate ${fmtInt(mixBytes(c, "Q4_K_M"))} B, llama-quantize's file ${fmtInt(real)} B (${fmtInt(Math.abs(mixBytes(c, "Q4_K_M") - real))} B apart)`;
}

function plans(S: () => SweepRecord[], T: () => SweepRecord[]): void {
  const lines: string[] = [
    "| model | gains | imatrix | size of | plan KL | mix KL | plan / mix | 95 % interval (token bootstrap) |",
    "|---|---|---|---|---:|---:|---:|---:|",
  ];
  const cT = context(TINYQWEN, 256, 256);
  const cS = context(STORIES, 4096, 1024);
  const lomo = (m: SweepRecord[]) => ({ table: fitGains([m], NEUTRAL_PRIOR).table, weights: fitGains([m], NEUTRAL_PRIOR, R_WEIGHTS).table });
  try {
    planRows(cT, "shipped (fitted on both)", null, lines);
    planRows(cS, "shipped (fitted on both)", null, lines);
    if (!args.includes("--no-lomo-plans")) {
      planRows(cT, "fitted on stories260K only", lomo(S()), lines);
      planRows(cS, "fitted on tinyqwen only", lomo(T()), lines);
    }
    out("### Plan vs the standard mixes (tinyqwen tokens 256–511, stories260K tokens 4096–5119)");
    out();
    out("Held out: the tokens (not the imatrix, which saw them). Rows with shipped gains are in-sample for the gains; rows with gains fitted on the other model only hold out the model.");
    out();
    for (const l of lines) out(l);
    out();
    out(`Additivity (shipped gains, imatrix, summed single-tensor prediction / measured KL of the whole mix): tinyqwen tokens 256–511: ${additivity(cT, ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"])}; `
      + `stories260K tokens 4096–5119: ${additivity(cS, ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"])}.`);
    out();
    for (const n of typeNotes) out(n + "\n");
    out(`Mix size estimates: ${sizeCheck(TINYQWEN, cT, "models/tinyqwen-Q4_K_M.gguf")}; ${sizeCheck(STORIES, cS, "models/stories260K-Q4_K_M.gguf")}.`);
  } finally {
    cT.src.close();
    cS.src.close();
  }
}

let S0: SweepRecord[] | undefined, T0: SweepRecord[] | undefined;
const S = () => (S0 ??= measuredRecords(STORIES_CAL, cache, log));
const T = () => (T0 ??= measuredRecords(TINYQWEN_CAL, cache, log));
if (args.includes("--write-fixture")) {
  const path = fileURLToPath(new URL("../../test/fixtures/calibration-kl.json", import.meta.url));
  writeFileSync(path, JSON.stringify(calibrationFixture([STORIES_CAL, TINYQWEN_CAL] as KlDataset[], [S(), T()]), null, 0) + "\n");
  log(`wrote ${path}`);
}
if (part === "all" || part === "validation") {
  const Sout = measuredRecords(STORIES_TOKENS_OUT, cache, log);
  validation(S(), T(), Sout);
  activationValidation(S(), T());
}
if (part === "all" || part === "plan") plans(S, T);
if (part === "all" || part === "fallback") {
  out();
  fallbackSection({ dir: cache ?? mkdtempSync(join(tmpdir(), "qs-fallback-")), stories: S(), tinyqwen: T(), writeFixture: args.includes("--write-fixture"), out, log });
}
log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
void R_OUTPUT; void ({} as RSelector);
