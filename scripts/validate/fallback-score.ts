// Leave-one-model-out scoring of the fallback predictors on the committed
// fallback measurements (test/fixtures/fallback-kl.json, written by
// scripts/validate/fallback.ts): shared by that script (docs/sweep.md's
// tables) and test/sensitivity-fallback.test.ts.
import { calibrationRecords, evaluate, fitGainsFilled, R_OUTPUT, R_WEIGHTS, type RSelector } from "../../src/analysis/sensitivity/fit.js";
import { logGain, predictKl, type GainCoefficients } from "../../src/analysis/sensitivity/gain-table.js";
import type { SweepRecord } from "../../src/analysis/sweep/types.js";

/** The four models: the two fixtures (their calibration windows) and two generated random-weight qwen3. */
export const FALLBACK_MODELS = [
  { name: "stories260K", how: "llama, 5 layers, 64 wide, trained (fixture); KL on tokens 0-1023 in chunks of 128, llama-imatrix file" },
  { name: "tinyqwen", how: "qwen3, 6 layers, 256 wide, trained (fixture); KL on tokens 0-255 (Q2_K, Q3_K, Q4_K, Q6_K), llama-imatrix file" },
  {
    name: "rand-qwen3", how: "gen_model.py --layers 4 --hidden 256 --ffn 512 --heads 4 --kv-heads 2 --head-dim 64 --seed 5 --vocab-from tinyqwen; KL on tokens 0-511 of tinyqwen's text, quantscope imatrix on 16 chunks of 256",
    gen: ["--layers", "4", "--hidden", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2", "--head-dim", "64", "--seed", "5"], klTokens: 512,
  },
  {
    name: "rand-qwen3-deep", how: "gen_model.py --layers 8 --hidden 192 --ffn 768 --heads 6 --kv-heads 2 --head-dim 32 --seed 11 --vocab-from tinyqwen; KL on tokens 0-255, quantscope imatrix on 16 chunks of 256",
    gen: ["--layers", "8", "--hidden", "192", "--ffn", "768", "--heads", "6", "--kv-heads", "2", "--head-dim", "32", "--seed", "11"], klTokens: 256,
  },
] as const;

export type FallbackRecord = Pick<SweepRecord, "tensor" | "kind" | "gainKey" | "layer" | "nLayers" | "requestedType" | "type" | "bytes" | "outputRelErr" | "relRmse" | "outputErrorSource" | "measuredKl"> & {
  skipped?: string;
  /** E‖y_branch‖² / E‖h_L‖² from the imatrix energies (1 for the head), and the head's logit variance σ_z² (sensitivity/energy.ts). */
  reach: number;
  logitVariance: number;
  /** The reach from the weights-only energies (no imatrix). */
  reachWeights: number;
  /** sensitivity/energy.ts modelScale from the imatrix energies and from the weights alone. */
  modelScale: number;
  modelScaleWeights: number;
};

export interface FallbackFixture {
  readonly note: string;
  readonly sets: readonly { readonly name: string; readonly how: string; readonly records: readonly FallbackRecord[] }[];
}

/** The reach model (investigated, not shipped): r · sqrt(reach · σ_z²), from the imatrix energies. */
export const R_REACH: RSelector = (r) => r.outputRelErr * Math.sqrt((r as unknown as FallbackRecord).reach * (r as unknown as FallbackRecord).logitVariance);

/** Weights-only reach model: relRmse · sqrt(reachWeights · σ_z²). */
export const R_REACH_WEIGHTS: RSelector = (r) => r.relRmse * Math.sqrt((r as unknown as FallbackRecord).reachWeights * (r as unknown as FallbackRecord).logitVariance);

export interface FoldScore {
  readonly n: number; readonly spearman: number; readonly within: number; readonly medianAbsLog10: number; readonly signedLog10: number;
  /** Plan regret: summed measured KL of the plan the predictions choose / of the plan the measurements choose, at the size of all-Q3_K and all-Q4_K (mean of the two). */
  readonly regret: number;
}
export interface ScoreRow { readonly label: string; readonly folds: readonly FoldScore[] }

type Table = Readonly<Record<string, GainCoefficients>>;
interface Predictor { label: string; fit: (train: SweepRecord[][]) => Table; rOf: RSelector; flat?: boolean }

const flat = (rs: SweepRecord[]) => rs.map((r) => ({ ...r, layer: null }));

function predictors(scen: "imatrix" | "weights"): Predictor[] {
  const r2 = scen === "imatrix" ? R_OUTPUT : R_WEIGHTS, reach = scen === "imatrix" ? R_REACH : R_REACH_WEIGHTS;
  const scaled: RSelector = (r) => r2(r) * Math.sqrt(scen === "imatrix" ? (r as unknown as FallbackRecord).modelScale : (r as unknown as FallbackRecord).modelScaleWeights);
  return [
    // the gain table's form, its missing keys filled as the reach model's are (plain attn_q/attn_k from their
    // QK-norm siblings): with NEUTRAL_PRIOR instead, stories260K's attn_q/attn_k would get the fixed `other`
    { label: "gain table (shipped form): gain(key, depth) · r²", fit: (t) => fitGainsFilled(t, r2).table, rOf: r2 },
    { label: "gain(key) · r², no depth", fit: (t) => fitGainsFilled(t.map(flat), r2).table, rOf: r2, flat: true },
    { label: "gain(key) · r² · reach · σ_z², no depth", fit: (t) => fitGainsFilled(t.map(flat), reach).table, rOf: reach, flat: true },
    { label: "reach model: gain(key, depth) · r² · reach · σ_z²", fit: (t) => fitGainsFilled(t, reach).table, rOf: reach },
    ...[0.5].map((beta) => {
      const rb: RSelector = (r) => r2(r) * Math.sqrt(Math.pow(reach(r) / r2(r), 2 * beta) * ((r as unknown as FallbackRecord).logitVariance ** (1 - beta)));
      return { label: `gain(key, depth) · r² · reach^${beta} · σ_z²`, fit: (t: SweepRecord[][]) => fitGainsFilled(t, rb).table, rOf: rb };
    }),
    { label: "**gain table · model scale** (σ_z² · mean reach of the model's matrices)", fit: (t) => fitGainsFilled(t, scaled).table, rOf: scaled },
  ];
}

/**
 * The assignment (one record per tensor) minimising Σ cost under Σ bytes ≤ budget, by Lagrangian
 * relaxation (bisection on the byte price): the convex-hull solutions, the same for predicted and
 * measured costs, so their ratio compares rankings, not solvers.
 */
function allocate(byTensor: readonly (readonly { bytes: number; cost: number }[])[], budget: number): number[] {
  const pick = (lam: number) => byTensor.map((opts) => { let b = 0; for (let i = 1; i < opts.length; i++) if (opts[i]!.cost + lam * opts[i]!.bytes < opts[b]!.cost + lam * opts[b]!.bytes) b = i; return b; });
  const bytesOf = (c: number[]) => c.reduce((s, i, t) => s + byTensor[t]![i]!.bytes, 0);
  let lo = 0, hi = 1;
  while (bytesOf(pick(hi)) > budget && hi < 1e30) hi *= 4;
  for (let it = 0; it < 100; it++) { const mid = (lo + hi) / 2; if (bytesOf(pick(mid)) > budget) lo = mid; else hi = mid; }
  return pick(hi);
}

function regret(recs: readonly SweepRecord[], pred: readonly number[]): number {
  const tensors = new Map<string, number[]>();
  recs.forEach((r, i) => tensors.set(r.tensor, [...(tensors.get(r.tensor) ?? []), i]));
  const groups = [...tensors.values()];
  const ratios = ["Q3_K", "Q4_K"].map((budgetType) => {
    const budget = groups.reduce((s, g) => s + recs[g.find((i) => recs[i]!.requestedType === budgetType) ?? g[0]!]!.bytes, 0);
    const choose = (cost: (i: number) => number) => allocate(groups.map((g) => g.map((i) => ({ bytes: recs[i]!.bytes, cost: cost(i) }))), budget);
    const measured = (c: number[]) => c.reduce((s, k, t) => s + recs[groups[t]![k]!]!.measuredKl!, 0);
    return measured(choose((i) => pred[i]!)) / measured(choose((i) => recs[i]!.measuredKl!));
  });
  return ratios.reduce((a, b) => a + b, 0) / ratios.length;
}

function score(p: Predictor, test: SweepRecord[], table: Table): FoldScore {
  const recs = calibrationRecords(p.flat ? flat(test) : test);
  const e = evaluate(recs, table, p.rOf);
  const pred = recs.map((r) => Math.exp(logGain(r.gainKey ?? r.kind, r.layer, r.nLayers, table)) * p.rOf(r) ** 2);
  return { n: e.n, spearman: e.spearman, within: e.spearmanWithinType, medianAbsLog10: e.medianAbsLog10, signedLog10: -e.shiftLog10, regret: regret(recs, pred) };
}

const recordsOf = (f: FallbackFixture) => f.sets.map((s) => s.records as unknown as SweepRecord[]);

/** Every predictor fitted on all models but one and scored on that one, for imatrix r and weights-only r. */
export function fallbackScores(f: FallbackFixture): { imatrix: ScoreRow[]; weights: ScoreRow[]; trainedOnly: { label: string; model: string; score: FoldScore }[] } {
  const models = recordsOf(f);
  const rows = (scen: "imatrix" | "weights") => predictors(scen).map((p) => ({
    label: p.label,
    folds: models.map((test, i) => score(p, test, p.fit(models.filter((_, j) => j !== i)))),
  }));
  const im = predictors("imatrix");
  const trainedOnly = [im[0]!, im.find((p) => p.label.startsWith("reach model"))!, im.find((p) => p.label.includes("model scale"))!].flatMap((p) => [2, 3].map((i) => ({ label: p.label, model: f.sets[i]!.name, score: score(p, models[i]!, p.fit([models[0]!, models[1]!])) })));
  return { imatrix: rows("imatrix"), weights: rows("weights"), trainedOnly };
}

/**
 * The shipped MODEL_SCALE_LOG: per energy source, the mean over the four models of each model's mean
 * log(measured / (shipped gain-table prediction · S)), so the scaled prediction is unbiased on average.
 */
export function modelScaleLog(f: FallbackFixture): { imatrix: number; weights: number } {
  const one = (scen: "imatrix" | "weights") => {
    const perModel = recordsOf(f).map((recs) => {
      const rs = calibrationRecords(recs) as unknown as FallbackRecord[];
      return rs.reduce((a, r) => {
        const base = predictKl({
          kind: r.gainKey === "output" ? "output" : r.kind, layer: r.layer, nLayers: r.nLayers, qkNorm: (r.gainKey ?? "").endsWith("+qknorm"),
          outputRelErr: scen === "imatrix" ? r.outputRelErr : r.relRmse, source: scen === "imatrix" ? (r.outputErrorSource === "none" ? "none" : "imatrix") : "none",
        });
        return a + Math.log(r.measuredKl! / (base * (scen === "imatrix" ? r.modelScale : r.modelScaleWeights)));
      }, 0) / rs.length;
    });
    return perModel.reduce((a, b) => a + b, 0) / perModel.length;
  };
  return { imatrix: one("imatrix"), weights: one("weights") };
}

/** The shipped predictions (GAIN / GAIN_WEIGHTS, scaled by S · exp(MODEL_SCALE_LOG)) on each model: median |log10| and mean log10, unscaled and scaled. */
export function shippedScale(f: FallbackFixture): { model: string; scen: string; unscaled: [number, number]; scaled: [number, number] }[] {
  const out: { model: string; scen: string; unscaled: [number, number]; scaled: [number, number] }[] = [];
  f.sets.forEach((set, i) => {
    for (const scen of ["imatrix", "weights"] as const) {
      const rs = calibrationRecords(recordsOf(f)[i]!) as unknown as FallbackRecord[];
      const l = (scaled: boolean) => rs.map((r) => Math.log10(predictKl({
        kind: r.gainKey === "output" ? "output" : r.kind, layer: r.layer, nLayers: r.nLayers, qkNorm: (r.gainKey ?? "").endsWith("+qknorm"),
        outputRelErr: scen === "imatrix" ? r.outputRelErr : r.relRmse, source: scen === "imatrix" ? (r.outputErrorSource === "none" ? "none" : "imatrix") : "none",
        ...(scaled ? { modelScale: scen === "imatrix" ? r.modelScale : r.modelScaleWeights, scaleFrom: scen } : {}),
      }) / r.measuredKl!));
      const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]!; };
      const m = (a: number[]) => [med(a.map(Math.abs)), a.reduce((x, y) => x + y, 0) / a.length] as [number, number];
      out.push({ model: set.name, scen, unscaled: m(l(false)), scaled: m(l(true)) });
    }
  });
  return out;
}
