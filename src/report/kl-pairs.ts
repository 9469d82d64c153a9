// Predicted next to measured single-tensor KL, for every (tensor, type) the
// report measured with the reference forward pass (report --measure-kl): the
// scatter in the HTML, the worst disagreements in the tables.
import type { ReportData } from "../analysis/diagnosis/model.js";
import { predictionSource } from "../analysis/sensitivity/damage.js";
import { spearman } from "../analysis/sensitivity/fit.js";

export interface KlPair {
  readonly tensor: string;
  readonly kind: string;
  /** The type measured (llama-quantize's fallback when the row does not fit the requested one). */
  readonly type: string;
  readonly predicted: number;
  readonly measured: number;
  /** What predicted it: calib, activations, imatrix, weights. */
  readonly source: string;
  readonly uncertain: boolean;
}

/** One pair per (tensor, effective type) with both KLs positive (a log-log chart needs them > 0). */
export function klPairs(data: ReportData): KlPair[] {
  const seen = new Set<string>();
  const out: KlPair[] = [];
  for (const r of data.records) {
    if (r.skipped || r.measuredKl === undefined || !(r.measuredKl > 0) || !(r.sensitivity > 0) || !Number.isFinite(r.sensitivity)) continue;
    const key = `${r.tensor}|${r.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ tensor: r.tensor, kind: r.kind, type: r.type, predicted: r.sensitivity, measured: r.measuredKl, source: predictionSource(r), uncertain: !!r.sensitivityBasis });
  }
  return out;
}

export interface KlAgreement {
  readonly n: number;
  /** Spearman rank correlation of predicted and measured over all pairs. */
  readonly spearman: number;
  /** Median of |log10(predicted / measured)|. */
  readonly medianAbsLog10: number;
}

export function klAgreement(pairs: readonly KlPair[]): KlAgreement {
  const logs = pairs.map((p) => Math.abs(Math.log10(p.predicted / p.measured))).sort((a, b) => a - b);
  const mid = logs.length >> 1;
  return {
    n: pairs.length,
    spearman: pairs.length >= 2 ? spearman(pairs.map((p) => p.predicted), pairs.map((p) => p.measured)) : NaN,
    medianAbsLog10: logs.length === 0 ? NaN : logs.length % 2 ? logs[mid]! : (logs[mid - 1]! + logs[mid]!) / 2,
  };
}

/** The pairs whose prediction is furthest from the measurement (by |log10 ratio|), worst first. */
export function worstDisagreements(pairs: readonly KlPair[], limit = 10): KlPair[] {
  const d = (p: KlPair) => Math.abs(Math.log10(p.predicted / p.measured));
  return [...pairs].sort((a, b) => d(b) - d(a)).slice(0, limit);
}
