// The report's diagnosis: plain-language findings, each backed by the number
// it rests on and the documented threshold that made it fire (docs/report.md
// lists every rule). Pure function of the collected evidence.
import type { ReportData, TensorEvidence, TypePoint } from "./model.js";
import { argsortDesc, pearson, sum } from "./stats.js";
import { diagnoseExperts } from "./experts.js";

export type Severity = "high" | "medium" | "info";

export interface Finding {
  /** Tensor name, or "model" for model-level findings. */
  readonly tensor: string;
  /** Rule id (see THRESHOLDS and docs/report.md). */
  readonly id: string;
  readonly severity: Severity;
  /** One sentence in plain words, numbers included. */
  readonly text: string;
  /** The number the finding rests on (a fraction, ratio or correlation, as the rule says). */
  readonly value: number;
  /** The threshold `value` was compared with. */
  readonly threshold: number;
  /** Supporting numbers (column indices, shares, types…). */
  readonly evidence: Readonly<Record<string, number | string | readonly number[] | readonly string[]>>;
}

export interface RankedTensor {
  readonly tensor: string;
  readonly score: number;
  readonly scoreName: string;
  /** Where the score came from: measured, calib, activations, imatrix, weights (or "output error" without a sweep). */
  readonly source: string;
  /** Set when the prediction is uncertain (~): the range it spans. */
  readonly range?: readonly [number, number];
}

export interface Diagnosis {
  /** Model-level findings first (most sensitive tensors, class, imatrix, plans). */
  readonly summary: Finding[];
  /** Per tensor, in report order. */
  readonly perTensor: ReadonlyMap<string, Finding[]>;
  /** Tensor names ranked by damage at the reference type, worst first (measured KL where it exists, else predicted). */
  readonly ranking: RankedTensor[];
  /** Expert-level findings for MoE tensors (diagnosis/experts.ts), by severity; empty for dense models. */
  readonly experts: Finding[];
}

/** Every threshold the rules use (documented in docs/report.md). */
export const THRESHOLDS = {
  /** act-concentration: share of activation power in the top 1 % of columns (uniform = 1 %). */
  actTop1Share: 0.10,
  actTop1ShareHigh: 0.25,
  /** error-concentration: share of estimated output error in the top 5 % of columns (uniform = 5 %). */
  errTop5Share: 0.25,
  /** coupling: Pearson r between column activation power and column weight MSE. */
  couplingR: 0.2,
  couplingMinColumns: 16,
  /** coupled super-blocks must hold this much more than their fair share of output error. */
  couplingExcessShare: 0.10,
  /** offset: relative 2-bit RMSE cut from a per-group min (fires above; "barely matters" below the low one). */
  offsetGain: 0.20,
  offsetGainLow: 0.05,
  /** heavy-tails: excess kurtosis of the weights. */
  kurtosis: 1.0,
  kurtosisHigh: 5.0,
  /** imatrix-gain: relative change of output error at the lowest measured type. */
  imatrixGain: 0.10,
  /** recommended type: lowest type whose relative output error is at most this. */
  maxRelOutputError: 0.05,
} as const;

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)} %`;

/** Columns whose share of activation power is largest: top max(1, floor(1 % of n)), as the study counts. */
export function topShare(values: ArrayLike<number>, fraction: number): { count: number; share: number; order: number[] } {
  const order = argsortDesc(values);
  const count = Math.max(1, Math.floor(values.length * fraction));
  const total = sum(values);
  let top = 0;
  for (let i = 0; i < count; i++) top += values[order[i]!]!;
  return { count, share: total > 0 ? top / total : 0, order };
}

/** Per-column estimated output error contribution p_j · mse_j (needs activations and a column error). */
export function columnContributions(t: TensorEvidence): Float64Array | undefined {
  if (!t.activation || !t.columnError) return undefined;
  const p = t.activation.colPower, e = t.columnError.colMse;
  const out = new Float64Array(p.length);
  for (let j = 0; j < p.length; j++) out[j] = p[j]! * e[j]!;
  return out;
}

export interface SuperBlock {
  readonly start: number;
  readonly end: number;
  /** Mean E[x_j²] over the block's columns. */
  readonly actPower: number;
  /** Mean weight MSE over the block's columns. */
  readonly weightMse: number;
  /** Share of the tensor's estimated output error. */
  readonly errorShare: number;
}

/** Columns grouped in super-blocks of `size` (256, a k-quant super-block); the tail block is kept. */
export function superBlocks(t: TensorEvidence, size = 256): SuperBlock[] {
  const c = columnContributions(t);
  if (!c || !t.activation || !t.columnError) return [];
  const total = sum(c);
  const out: SuperBlock[] = [];
  for (let s = 0; s < t.cols; s += size) {
    const e = Math.min(t.cols, s + size);
    let p = 0, m = 0, k = 0;
    for (let j = s; j < e; j++) { p += t.activation.colPower[j]!; m += t.columnError.colMse[j]!; k += c[j]!; }
    out.push({ start: s, end: e, actPower: p / (e - s), weightMse: m / (e - s), errorShare: total > 0 ? k / total : 0 });
  }
  return out;
}

/** The point of the curve at the lowest bpw (the type where choices matter most). */
function lowestPoint(t: TensorEvidence): TypePoint | undefined {
  return t.curve[0];
}

/**
 * Damage score used to rank tensors: the sweep's predicted KL at the lowest
 * measured type (where choices matter most); without a curve, the relative
 * output error estimated from the reference column errors.
 */
export function damageScore(t: TensorEvidence): { score: number; name: string; source: string; range?: readonly [number, number] } | undefined {
  const p = lowestPoint(t);
  // the best source available: the KL measured with the forward pass (report --measure-kl), else the prediction
  if (p && p.measuredKl !== undefined && Number.isFinite(p.measuredKl)) return { score: p.measuredKl, name: `measured KL at ${p.type}`, source: "measured" };
  if (p && Number.isFinite(p.sensitivity)) {
    return { score: p.sensitivity, name: `predicted KL at ${p.type}`, source: p.sensitivitySource ?? "-", ...(p.sensitivityRange ? { range: p.sensitivityRange } : {}) };
  }
  if (t.activation && t.columnError) {
    let num = 0, den = 0;
    for (let j = 0; j < t.cols; j++) {
      num += t.activation.colPower[j]! * t.columnError.colMse[j]!;
      den += t.activation.colPower[j]! * t.columnError.colMeanSquare[j]!;
    }
    if (den > 0) return { score: Math.sqrt(num / den), name: `relative output error at ${t.columnError.type}`, source: "output error" };
  }
  return undefined;
}

/** Lowest type whose relative output error (as quantized, importance included) is within the threshold. */
export function recommendedType(t: TensorEvidence, limit: number = THRESHOLDS.maxRelOutputError): TypePoint | undefined {
  return t.curve.find((p) => p.relOutputError <= limit);
}

function listCols(order: number[], n: number): string {
  return order.slice(0, n).join(", ") + (order.length > n ? ", …" : "");
}

export function diagnoseTensor(t: TensorEvidence): Finding[] {
  const out: Finding[] = [];
  const f = (x: Omit<Finding, "tensor">): void => { out.push({ tensor: t.name, ...x }); };
  const a = t.activation;

  if (a && a.colPower.length >= 2) {
    const top = topShare(a.colPower, 0.01);
    const top10 = topShare(a.colPower, 0.10);
    const rms = Array.from(a.colPower, Math.sqrt);
    const minRms = Math.min(...rms), maxRms = Math.max(...rms);
    if (top.share >= THRESHOLDS.actTop1Share) {
      f({
        id: "act-concentration",
        severity: top.share >= THRESHOLDS.actTop1ShareHigh ? "high" : "medium",
        text: `${pct(top.count / a.colPower.length)} of input columns (${top.count} of ${a.colPower.length}) carry ${pct(top.share)} of the activation power (cols ${listCols(top.order, 3)}); weight errors in those columns are amplified.`,
        value: top.share, threshold: THRESHOLDS.actTop1Share,
        evidence: {
          topColumns: top.order.slice(0, 10), top1Count: top.count, top10PctShare: top10.share,
          maxOverMinRms: minRms > 0 ? maxRms / minRms : Infinity, source: a.source,
        },
      });
    }
  }

  const contrib = columnContributions(t);
  if (contrib && t.columnError) {
    const top = topShare(contrib, 0.05);
    if (top.share >= THRESHOLDS.errTop5Share) {
      f({
        id: "error-concentration",
        severity: top.share >= 2 * THRESHOLDS.errTop5Share ? "high" : "medium",
        text: `${pct(top.count / contrib.length)} of columns (${top.count}) hold ${pct(top.share)} of the estimated output error at ${t.columnError.type} (cols ${listCols(top.order, 3)}): an imatrix that protects them pays off.`,
        value: top.share, threshold: THRESHOLDS.errTop5Share,
        evidence: { topColumns: top.order.slice(0, 10), type: t.columnError.type },
      });
    }
    if (contrib.length >= THRESHOLDS.couplingMinColumns) {
      const r = pearson(t.activation!.colPower, t.columnError.colMse);
      if (Number.isFinite(r) && r >= THRESHOLDS.couplingR) {
        f({
          id: "coupling",
          severity: r >= 2 * THRESHOLDS.couplingR ? "high" : "medium",
          text: `weight error and activation power are positively coupled across columns (r = ${r.toFixed(2)}): the columns that matter most also quantize worst.`,
          value: r, threshold: THRESHOLDS.couplingR,
          evidence: { columns: contrib.length, type: t.columnError.type },
        });
      }
    }
    const sbs = superBlocks(t);
    if (sbs.length >= 2) {
      const mp = sbs.reduce((s, b) => s + b.actPower, 0) / sbs.length;
      const mm = sbs.reduce((s, b) => s + b.weightMse, 0) / sbs.length;
      const hot = sbs.filter((b) => b.actPower > mp && b.weightMse > mm);
      const share = hot.reduce((s, b) => s + b.errorShare, 0);
      const fair = hot.length / sbs.length;
      if (hot.length > 0 && share - fair >= THRESHOLDS.couplingExcessShare) {
        f({
          id: "superblock-coupling",
          severity: share - fair >= 2 * THRESHOLDS.couplingExcessShare ? "high" : "medium",
          text: `weight error and activation power are both above average in ${hot.length} of ${sbs.length} super-blocks, which hold ${pct(share)} of the output error (a fair share would be ${pct(fair)}).`,
          value: share - fair, threshold: THRESHOLDS.couplingExcessShare,
          evidence: { superBlocks: hot.map((b) => `${b.start}-${b.end - 1}`), share, fairShare: fair },
        });
      }
    }
  }

  if (t.offset && t.offset.rmseScaleOnly > 0) {
    const gain = 1 - t.offset.rmseWithOffset / t.offset.rmseScaleOnly;
    const ev = { rmseScaleOnly: t.offset.rmseScaleOnly, rmseWithOffset: t.offset.rmseWithOffset, groupSize: t.offset.groupSize };
    if (gain >= THRESHOLDS.offsetGain) {
      f({ id: "offset", severity: gain >= 2 * THRESHOLDS.offsetGain ? "high" : "medium",
        text: `group offsets matter: a per-group min cuts 2-bit error by ${pct(gain)} (RMSE ${fmt(t.offset.rmseScaleOnly)} → ${fmt(t.offset.rmseWithOffset)}); prefer types with a min (Q2_K, Q4_K, Q5_K).`,
        value: gain, threshold: THRESHOLDS.offsetGain, evidence: ev });
    } else if (gain < THRESHOLDS.offsetGainLow) {
      f({ id: "offset-irrelevant", severity: "info",
        text: `group offsets barely matter: a per-group min makes 2-bit error ${pct(Math.abs(gain))} ${gain >= 0 ? "smaller" : "larger"} (RMSE ${fmt(t.offset.rmseScaleOnly)} → ${fmt(t.offset.rmseWithOffset)}); the weights are centred within each group of ${t.offset.groupSize}.`,
        value: gain, threshold: THRESHOLDS.offsetGainLow, evidence: ev });
    }
  }

  const k = t.weight.excessKurtosis;
  if (k >= THRESHOLDS.kurtosis) {
    const tail = t.weight.std > 0 ? Math.max(Math.abs(t.weight.min - t.weight.mean), Math.abs(t.weight.max - t.weight.mean)) / t.weight.std : 0;
    f({ id: "heavy-tails", severity: k >= THRESHOLDS.kurtosisHigh ? "high" : "medium",
      text: `heavy-tailed weights (excess kurtosis ${k.toFixed(2)}, largest |w − mean| = ${tail.toFixed(1)} σ): outliers stretch their block's scale and cost their neighbours precision.`,
      value: k, threshold: THRESHOLDS.kurtosis, evidence: { min: t.weight.min, max: t.weight.max, std: t.weight.std } });
  }

  const low = lowestPoint(t);
  if (low?.relOutputErrorWithoutImatrix !== undefined && low.relOutputErrorWithoutImatrix > 0) {
    const before = low.relOutputErrorWithoutImatrix, after = low.relOutputError;
    const cut = 1 - after / before;
    if (Math.abs(cut) >= THRESHOLDS.imatrixGain) {
      f({ id: "imatrix-gain", severity: cut > 0 ? "medium" : "high",
        text: cut > 0
          ? `an imatrix cuts output error at ${low.type} by ${pct(cut)} (${pct(before, 2)} → ${pct(after, 2)}).`
          : `an imatrix raises output error at ${low.type} by ${pct(-cut)} (${pct(before, 2)} → ${pct(after, 2)}): check the calibration data.`,
        value: cut, threshold: THRESHOLDS.imatrixGain, evidence: { type: low.type, without: before, with: after } });
    }
  }

  const rec = recommendedType(t);
  if (rec) {
    const what = rec.outputErrorSource === "none" ? "weight error" : rec.usedImatrix ? "output error (with imatrix)" : "output error";
    f({ id: "recommended-type", severity: "info",
      text: `${rec.type} (${rec.bpw.toFixed(2)} bpw) is the smallest measured type that keeps the relative ${what} within ${pct(THRESHOLDS.maxRelOutputError, 0)} (${pct(rec.relOutputError, 2)}).`,
      value: rec.relOutputError, threshold: THRESHOLDS.maxRelOutputError, evidence: { type: rec.type, bpw: rec.bpw } });
  }
  return out;
}

const RANK: Record<Severity, number> = { high: 0, medium: 1, info: 2 };

export function diagnose(data: ReportData): Diagnosis {
  const perTensor = new Map<string, Finding[]>();
  for (const t of data.tensors) perTensor.set(t.name, diagnoseTensor(t).sort((a, b) => RANK[a.severity] - RANK[b.severity]));

  const ranking = data.tensors
    .map((t) => ({ t, d: damageScore(t) }))
    .filter((x) => x.d !== undefined)
    .map((x): RankedTensor => ({ tensor: x.t.name, score: x.d!.score, scoreName: x.d!.name, source: x.d!.source, ...(x.d!.range ? { range: x.d!.range } : {}) }))
    .sort((a, b) => b.score - a.score);

  const summary: Finding[] = [];
  const m = (x: Omit<Finding, "tensor">): void => { summary.push({ tensor: "model", ...x }); };

  if (ranking.length > 0) {
    const top = ranking.slice(0, 3);
    const median = ranking[Math.floor(ranking.length / 2)]!.score;
    m({ id: "most-sensitive", severity: "info",
      text: `most sensitive tensors (${top[0]!.scoreName}${top.every((r) => r.source === "measured") ? "" : `, from ${[...new Set(top.map((r) => r.source))].join("/")}`}): ${top.map((r) => `${r.tensor} ${r.range ? "~" : ""}${fmt(r.score)}`).join(", ")}${median > 0 ? `; the worst is ${(top[0]!.score / median).toFixed(1)}× the median` : ""}` +
        (ranking.some((r) => r.range) ? `; ~ = uncertain: ${ranking.filter((r) => r.range).length} of ${ranking.length} predictions depend on model facts this input does not show (ranges in the table, see the notes)` : "") + ".",
      value: top[0]!.score, threshold: median, evidence: { tensors: top.map((r) => r.tensor), scores: top.map((r) => r.score) } });

    // Tensor classes ranked by their mean score; the worst class gets a recommendation.
    const byKind = new Map<string, number[]>();
    for (const r of ranking) {
      const kind = data.tensors.find((t) => t.name === r.tensor)!.kind;
      byKind.set(kind, [...(byKind.get(kind) ?? []), r.score]);
    }
    const kinds = [...byKind].map(([kind, s]) => ({ kind, mean: s.reduce((x, y) => x + y, 0) / s.length })).sort((a, b) => b.mean - a.mean);
    if (kinds.length >= 2) {
      const worst = kinds[0]!;
      const recs = data.tensors.filter((t) => t.kind === worst.kind).map((t) => recommendedType(t)).filter((p): p is TypePoint => !!p);
      const rec = recs.sort((a, b) => b.bpw - a.bpw)[0];
      // What the plan at Q4_K_M's size (or the first plan) gives this class, when there is one.
      const plan = data.plans.find((p) => p.kind === "plan" && p.baseline === "Q4_K_M") ?? data.plans.find((p) => p.kind === "plan");
      const names = new Set(data.tensors.filter((t) => t.kind === worst.kind).map((t) => t.name));
      const given = plan ? [...new Set(plan.entries.filter((e) => names.has(e.tensor)).map((e) => e.type))] : [];
      const planText = plan && given.length ? `; ${plan.label} gives it ${given.join("/")}` : "";
      const classes = new Set([worst.kind, kinds[1]!.kind]);
      const unsure = ranking.some((r) => r.range && classes.has(data.tensors.find((t) => t.name === r.tensor)!.kind));
      const unsureText = unsure ? " (~ uncertain: these classes' predictions depend on model facts this input does not show, see the notes)" : "";
      m({ id: "sensitive-class", severity: "medium",
        text: `${worst.kind} is the most sensitive tensor class in this model (mean ${fmt(worst.mean)} vs ${fmt(kinds[1]!.mean)} for ${kinds[1]!.kind})${rec ? `: recommended ≥ ${rec.type}` : ""}${planText}${unsureText}.`,
        value: worst.mean, threshold: kinds[1]!.mean, evidence: { classes: kinds.map((k) => k.kind), means: kinds.map((k) => k.mean), ...(rec ? { recommended: rec.type } : {}) } });
    }
  }

  // What the imatrix changes, averaged over tensors at their lowest measured type.
  const cuts = data.tensors.map(lowestPoint)
    .filter((p): p is TypePoint => !!p && p.relOutputErrorWithoutImatrix !== undefined && p.relOutputErrorWithoutImatrix > 0)
    .map((p) => ({ type: p.type, cut: 1 - p.relOutputError / p.relOutputErrorWithoutImatrix! }));
  if (cuts.length > 0) {
    const mean = cuts.reduce((s, c) => s + c.cut, 0) / cuts.length;
    const best = cuts.reduce((a, b) => (b.cut > a.cut ? b : a));
    m({ id: "imatrix-model", severity: Math.abs(mean) >= THRESHOLDS.imatrixGain ? "medium" : "info",
      text: `an importance matrix ${mean >= 0 ? "cuts" : "raises"} output error at ${cuts[0]!.type} by ${pct(Math.abs(mean))} on average over ${cuts.length} tensors (best: ${pct(best.cut)}).`,
      value: mean, threshold: THRESHOLDS.imatrixGain, evidence: { tensors: cuts.length } });
  }

  // Each plan against the standard mix of the same size.
  for (const p of data.plans.filter((x) => x.kind === "plan")) {
    const mix = data.plans.find((x) => x.kind === "standard" && x.label === p.baseline);
    if (!mix || p.predictedDamage === undefined || mix.predictedDamage === undefined || mix.predictedDamage <= 0) continue;
    const change = p.predictedDamage / mix.predictedDamage - 1;
    const mixType = new Map(mix.entries.map((e) => [e.tensor, e.type]));
    const diffs = p.entries.filter((e) => mixType.get(e.tensor) !== e.type).map((e) => `${e.tensor} ${mixType.get(e.tensor)}→${e.type}`);
    const what = p.sources?.length === 1 && p.sources[0] === "measured" ? "summed single-tensor measured KL" : "summed predicted KL";
    const unsure = p.uncertain || mix.uncertain ? " (~ uncertain: some of these predictions depend on model facts this input does not show)" : "";
    // Same types: no comparison to make (a "−0.0 %" would read as a measured tie).
    if (diffs.length === 0) {
      m({ id: "plan-vs-mix", severity: "info",
        text: `at ${mix.label}'s size (${mix.bpw.toFixed(2)} bpw) the plan picks ${mix.label}'s own types for these ${p.entries.length} tensors (${what} ${fmt(p.predictedDamage)}): no other assignment within that size has a lower one${unsure}.`,
        value: change, threshold: 0, evidence: { plan: p.label, mix: mix.label, planBpw: p.bpw, mixBpw: mix.bpw, changed: diffs } });
      continue;
    }
    m({ id: "plan-vs-mix", severity: "info",
      text: `at ${mix.label}'s size (${mix.bpw.toFixed(2)} bpw) the plan ${p.sources?.length === 1 && p.sources[0] === "measured" ? "has a summed single-tensor measured KL" : "predicts a summed KL"} of ${fmt(p.predictedDamage)} vs ${fmt(mix.predictedDamage)} for ${mix.label} (${change <= 0 ? "−" : "+"}${pct(Math.abs(change))})${diffs.length ? `, changing ${diffs.length} of ${p.entries.length} tensors: ${diffs.slice(0, 4).join(", ")}${diffs.length > 4 ? ", …" : ""}` : ", with the same types"}${p.uncertain || mix.uncertain ? " (~ uncertain: some of these predictions depend on model facts this input does not show)" : ""}.`,
      value: change, threshold: 0, evidence: { plan: p.label, mix: mix.label, planBpw: p.bpw, mixBpw: mix.bpw, changed: diffs } });
  }

  // MoE: one model-level line over the expert findings (the findings themselves have their own section).
  const experts = diagnoseExperts(data.experts ?? []);
  if (data.experts?.length) {
    const n = (id: string) => experts.filter((x) => x.id === id).length;
    const e = data.experts;
    m({ id: "experts-model", severity: experts.some((x) => x.severity !== "info") ? "medium" : "info",
      text: `${e.length} expert tensors of ${e[0]!.experts} experts: ${n("expert-few-tokens")} layer${n("expert-few-tokens") === 1 ? "" : "s"} with experts the imatrix barely saw, ${n("expert-act-outlier")} tensor${n("expert-act-outlier") === 1 ? "" : "s"} with experts whose input carries outlier activation power, ${n("expert-hard")} with experts much harder to quantize than their siblings${data.imatrix ? "" : " (no imatrix: token counts and activations unknown)"}.`,
      value: experts.length, threshold: 0,
      evidence: { tensors: e.length, experts: e[0]!.experts, findings: experts.length } });
  }

  // Highest-severity tensor findings are echoed in the summary (at most 5).
  const all = [...perTensor.values()].flat().filter((x) => x.severity === "high");
  summary.push(...all.slice(0, 5));
  return { summary, perTensor, ranking, experts };
}

/** Compact number: 3 significant digits, exponent for tiny values. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? Number(x.toPrecision(3)).toString() : x.toExponential(2);
}
