// Fitting and judging the sensitivity model against measured single-tensor
// KLs (sweep --measure-kl): least squares in log space per tensor kind, and
// the figures docs/sweep.md reports (rank correlation, error factor).
import type { SweepRecord } from "../sweep/types.js";
import { depthOf, logGain, type GainCoefficients } from "./gain-table.js";

/** Records usable for fitting: measured, quantized (not F16/F32 fallbacks), above the float noise floor. */
export function calibrationRecords(records: readonly SweepRecord[], floor = 1e-7): SweepRecord[] {
  return records.filter((r) => !r.skipped && r.measuredKl !== undefined && r.measuredKl > floor && r.outputRelErr > 0
    && r.type !== "F16" && r.type !== "F32" && r.type !== "BF16");
}

/** r used by a gain table: the record's outputRelErr, or the weight-space relRmse. */
export type RSelector = (r: SweepRecord) => number;
export const R_OUTPUT: RSelector = (r) => r.outputRelErr;
export const R_WEIGHTS: RSelector = (r) => r.relRmse;

const keyOf = (r: SweepRecord) => r.gainKey ?? r.kind;

/**
 * Per gain key: log(KL / r²) = a + b·depth + o_model by least squares, where
 * o_model is a per-model offset (models differ in overall sensitivity, e.g.
 * through the sharpness of their output distribution); offsets are centred,
 * so the table describes the average model. Keys missing from the data keep
 * `prior`. Records are grouped into models by `r.model` of the result they
 * came from (pass one array per model).
 */
export function fitGains(models: readonly (readonly SweepRecord[])[], prior: Readonly<Record<string, GainCoefficients>>, rOf: RSelector = R_OUTPUT): { table: Record<string, GainCoefficients>; offsets: number[] } {
  const data = models.map((recs) => calibrationRecords(recs).map((r) => ({ r, x: depthOf(r.layer, r.nLayers), y: Math.log(r.measuredKl! / rOf(r) ** 2) })));
  const offsets = models.map(() => 0);
  let fitted: Record<string, GainCoefficients> = {};
  for (let it = 0; it < (models.length > 1 ? 30 : 1); it++) {
    const byKey = new Map<string, Array<{ x: number; y: number }>>();
    data.forEach((d, m) => d.forEach(({ r, x, y }) => {
      const l = byKey.get(keyOf(r)) ?? [];
      l.push({ x, y: y - offsets[m]! });
      byKey.set(keyOf(r), l);
    }));
    fitted = {};
    for (const [key, pts] of byKey) {
      const n = pts.length;
      const mx = pts.reduce((s, p) => s + p.x, 0) / n;
      const my = pts.reduce((s, p) => s + p.y, 0) / n;
      let sxx = 0, sxy = 0;
      for (const p of pts) { sxx += (p.x - mx) ** 2; sxy += (p.x - mx) * (p.y - my); }
      const b = sxx > 1e-9 ? sxy / sxx : 0;
      fitted[key] = { a: my - b * mx, b };
    }
    if (models.length < 2) break;
    data.forEach((d, m) => {
      offsets[m] = d.length ? d.reduce((s, { r, x, y }) => s + y - fitted[keyOf(r)]!.a - fitted[keyOf(r)]!.b * x, 0) / d.length : 0;
    });
    const mean = offsets.reduce((a, b) => a + b, 0) / offsets.length;
    for (let m = 0; m < offsets.length; m++) offsets[m]! -= mean;
  }
  return { table: { ...prior, ...fitted }, offsets };
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (v: readonly number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
      for (let k = i; k <= j; k++) r[idx[k]![1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b);
  const n = a.length;
  const m = (n - 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) { num += (ra[i]! - m) * (rb[i]! - m); da += (ra[i]! - m) ** 2; db += (rb[i]! - m) ** 2; }
  return num / Math.sqrt(da * db);
}

export interface CalibrationReport {
  readonly n: number;
  /** Spearman between predicted and measured KL over all (tensor, type) pairs. */
  readonly spearman: number;
  /** Mean of the per-type Spearman correlations (ranking tensors for one type). */
  readonly spearmanWithinType: number;
  /** Median and 90th percentile of |log10(predicted / measured)|. */
  readonly medianAbsLog10: number;
  /** The same median after removing this model's mean log10 error (its overall scale). */
  readonly medianAbsLog10Shifted: number;
  /** This model's mean log10(measured / predicted). */
  readonly shiftLog10: number;
  readonly p90AbsLog10: number;
  /** Same rank correlation for the naive predictor r² (no gains), as a baseline. */
  readonly spearmanBaseline: number;
}

export function evaluate(records: readonly SweepRecord[], table: Readonly<Record<string, GainCoefficients>>, rOf: RSelector = R_OUTPUT): CalibrationReport {
  const rs = calibrationRecords(records);
  const pred = rs.map((r) => Math.exp(logGain(keyOf(r), r.layer, r.nLayers, table)) * rOf(r) ** 2);
  const meas = rs.map((r) => r.measuredKl!);
  const errs = rs.map((_, i) => Math.abs(Math.log10(pred[i]! / meas[i]!))).sort((a, b) => a - b);
  const shift = rs.reduce((s, _, i) => s + Math.log10(meas[i]! / pred[i]!), 0) / Math.max(1, rs.length);
  const shifted = rs.map((_, i) => Math.abs(Math.log10(meas[i]! / pred[i]!) - shift)).sort((a, b) => a - b);
  const types = [...new Set(rs.map((r) => r.type))];
  const within = types
    .map((t) => rs.map((r, i) => [r, i] as const).filter(([r]) => r.type === t))
    .filter((g) => g.length >= 5)
    .map((g) => spearman(g.map(([, i]) => pred[i]!), g.map(([, i]) => meas[i]!)));
  return {
    n: rs.length,
    spearman: spearman(pred, meas),
    spearmanWithinType: within.reduce((a, b) => a + b, 0) / Math.max(1, within.length),
    medianAbsLog10: errs[Math.floor((errs.length - 1) / 2)] ?? NaN,
    medianAbsLog10Shifted: shifted[Math.floor((shifted.length - 1) / 2)] ?? NaN,
    shiftLog10: shift,
    p90AbsLog10: errs[Math.floor(0.9 * (errs.length - 1))] ?? NaN,
    spearmanBaseline: spearman(rs.map((r) => rOf(r) ** 2), meas),
  };
}

/**
 * fitGains with no prior (every key comes from the data), for held-out fits:
 * attn_q / attn_k without data take their QK-norm sibling's gain (the
 * reverse of logGain's lookup); `other` is the mean fitted gain at depth 0.
 */
export function fitGainsFilled(models: readonly (readonly SweepRecord[])[], rOf: RSelector = R_OUTPUT): { table: Record<string, GainCoefficients>; offsets: number[] } {
  const { table, offsets } = fitGains(models, {}, rOf);
  for (const k of ["attn_q", "attn_k"]) if (!table[k] && table[`${k}+qknorm`]) table[k] = table[`${k}+qknorm`]!;
  const as = Object.values(table).map((g) => g.a);
  table.other = { a: as.reduce((x, y) => x + y, 0) / Math.max(1, as.length), b: 0 };
  return { table, offsets };
}
