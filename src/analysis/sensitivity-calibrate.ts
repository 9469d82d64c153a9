// Fitting and judging the sensitivity model against measured single-tensor
// KLs (sweep --measure-kl): least squares in log space per tensor kind, and
// the figures docs/sweep.md reports (rank correlation, error factor).
import type { SweepRecord } from "./sweep-types.js";
import { depthOf, logGain, type GainCoefficients } from "./sensitivity.js";

/** Records usable for fitting: measured, not skipped, above the float noise floor. */
export function calibrationRecords(records: readonly SweepRecord[], floor = 1e-7): SweepRecord[] {
  return records.filter((r) => !r.skipped && r.measuredKl !== undefined && r.measuredKl > floor && r.outputRelErr > 0);
}

/**
 * Per kind: log(KL / r²) = a + b·depth by least squares (b = 0 when the kind
 * has no layer or a single depth). Kinds missing from the data keep `prior`.
 */
/** r used by a gain table: the record's outputRelErr, or the weight-space relRmse. */
export type RSelector = (r: SweepRecord) => number;
export const R_OUTPUT: RSelector = (r) => r.outputRelErr;
export const R_WEIGHTS: RSelector = (r) => r.relRmse;

export function fitGains(records: readonly SweepRecord[], prior: Readonly<Record<string, GainCoefficients>>, rOf: RSelector = R_OUTPUT): Record<string, GainCoefficients> {
  const out: Record<string, GainCoefficients> = { ...prior };
  const byKind = new Map<string, SweepRecord[]>();
  for (const r of calibrationRecords(records)) {
    const list = byKind.get(r.kind) ?? [];
    list.push(r);
    byKind.set(r.kind, list);
  }
  for (const [kind, rs] of byKind) {
    const xs = rs.map((r) => depthOf(r.layer, r.nLayers));
    const ys = rs.map((r) => Math.log(r.measuredKl! / rOf(r) ** 2));
    const n = xs.length;
    const mx = xs.reduce((a, b) => a + b, 0) / n;
    const my = ys.reduce((a, b) => a + b, 0) / n;
    let sxx = 0, sxy = 0;
    for (let i = 0; i < n; i++) { sxx += (xs[i]! - mx) ** 2; sxy += (xs[i]! - mx) * (ys[i]! - my); }
    const b = sxx > 1e-9 ? sxy / sxx : 0;
    out[kind] = { a: my - b * mx, b };
  }
  return out;
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
  readonly p90AbsLog10: number;
  /** Same rank correlation for the naive predictor r² (no gains), as a baseline. */
  readonly spearmanBaseline: number;
}

export function evaluate(records: readonly SweepRecord[], table: Readonly<Record<string, GainCoefficients>>, rOf: RSelector = R_OUTPUT): CalibrationReport {
  const rs = calibrationRecords(records);
  const pred = rs.map((r) => Math.exp(logGain(r.kind, r.layer, r.nLayers, table)) * rOf(r) ** 2);
  const meas = rs.map((r) => r.measuredKl!);
  const errs = rs.map((_, i) => Math.abs(Math.log10(pred[i]! / meas[i]!))).sort((a, b) => a - b);
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
    p90AbsLog10: errs[Math.floor(0.9 * (errs.length - 1))] ?? NaN,
    spearmanBaseline: spearman(rs.map((r) => rOf(r) ** 2), meas),
  };
}
