// The report's tables as plain rows of strings, shared by the HTML and the
// Markdown so both show the same numbers.
import { fmt, type Diagnosis } from "../analysis/diagnosis/diagnosis.js";
import type { ReportData, TensorEvidence } from "../analysis/diagnosis/model.js";
import { klAgreement, klPairs, worstDisagreements } from "./kl-pairs.js";

export interface Table {
  readonly header: string[];
  readonly rows: string[][];
  /** Columns to right-align (numbers). */
  readonly numeric?: boolean[];
}

const pct = (x: number | undefined, d = 2): string => (x === undefined || !Number.isFinite(x) ? "–" : `${(x * 100).toFixed(d)} %`);

/** "~" marks an uncertain prediction (its range is shown beside it). */
const approx = (x: number, range?: readonly [number, number]): string => (range ? `~${fmt(x)}` : fmt(x));
const rangeText = (range?: readonly [number, number]): string => (range ? `${fmt(range[0])} – ${fmt(range[1])}` : "");

export function rankingTable(diag: Diagnosis, limit = 15): Table {
  const ranged = diag.ranking.some((r) => r.range);
  return {
    header: ["#", "tensor", diag.ranking[0]?.scoreName ?? "score", "from", ...(ranged ? ["uncertain range"] : [])],
    rows: diag.ranking.slice(0, limit).map((r, i) => [String(i + 1), r.tensor, approx(r.score, r.range), r.source, ...(ranged ? [rangeText(r.range)] : [])]),
    numeric: [true, false, true, false, ...(ranged ? [true] : [])],
  };
}

export function tensorStatsTable(t: TensorEvidence): Table {
  const a = t.activation;
  const rows: string[][] = [
    ["shape (rows × cols)", `${t.rows} × ${t.cols}`],
    ["weight mean / std", `${fmt(t.weight.mean)} / ${fmt(t.weight.std)}`],
    ["weight min / max", `${fmt(t.weight.min)} / ${fmt(t.weight.max)}`],
    ["excess kurtosis", t.weight.excessKurtosis.toFixed(3)],
  ];
  if (a) {
    const rms = Array.from(a.colPower, Math.sqrt);
    rows.push(["activations", `${a.label} (${a.source}, ${a.tokens} tokens)`]);
    rows.push(["column RMS min / max", `${fmt(Math.min(...rms))} / ${fmt(Math.max(...rms))}`]);
  } else {
    rows.push(["activations", "none (give --activations or --imatrix)"]);
  }
  if (t.offset) rows.push([`2-bit RMSE scale-only / with min (groups of ${t.offset.groupSize})`, `${fmt(t.offset.rmseScaleOnly)} / ${fmt(t.offset.rmseWithOffset)}`]);
  return { header: ["statistic", "value"], rows };
}

export function curveTable(t: TensorEvidence): Table | undefined {
  if (t.curve.length === 0) return undefined;
  const measured = t.curve.some((p) => p.measuredKl !== undefined);
  return {
    header: ["type", "bpw", "rel. weight RMSE", "rel. output error", "same, no imatrix", "predicted KL", "from", ...(measured ? ["measured KL"] : [])],
    rows: t.curve.map((p) => [
      p.type, p.bpw.toFixed(3), pct(p.relRmse), pct(p.relOutputError), pct(p.relOutputErrorWithoutImatrix),
      approx(p.sensitivity, p.sensitivityRange) + (p.sensitivityRange ? ` (${rangeText(p.sensitivityRange)})` : ""), p.sensitivitySource ?? "–",
      ...(measured ? [p.measuredKl === undefined ? "–" : fmt(p.measuredKl)] : []),
    ]),
    numeric: [false, true, true, true, true, true, false, ...(measured ? [true] : [])],
  };
}

/** One row per MoE expert tensor: tokens per expert, activation concentration and error spread over its experts. */
export function expertsTable(data: ReportData): Table | undefined {
  const ev = data.experts;
  if (!ev || ev.length === 0) return undefined;
  const argmax = (v: number[]) => v.reduce((a, x, i) => (Number.isFinite(x) && !(x <= v[a]!) ? i : a), 0);
  const argmin = (v: number[]) => v.reduce((a, x, i) => (x < v[a]! ? i : a), 0);
  return {
    header: ["tensor", "experts", "tokens min (expert) / max", "top-1 % activation share, max (expert)", `rel. RMSE min / max (expert) at ${ev[0]!.type}`],
    rows: ev.map((t) => {
      const tk = t.tokens;
      const sh = t.actTop1Share;
      const lo = argmin(t.relRmse), hi = argmax(t.relRmse);
      return [
        t.name, String(t.experts),
        tk ? `${tk[argmin(tk)]} (${argmin(tk)}) / ${tk[argmax(tk)]}` : "–",
        sh ? `${pct(sh[argmax(sh)], 1)} (${argmax(sh)})` : "–",
        `${pct(t.relRmse[lo], 1)} / ${pct(t.relRmse[hi], 1)} (${hi})`,
      ];
    }),
    numeric: [false, true, true, true, true],
  };
}

/** The (tensor, type) pairs whose predicted KL is furthest from the measured one (report --measure-kl). */
export function klDisagreementTable(data: ReportData, limit = 10): { table: Table; caption: string } | undefined {
  const pairs = klPairs(data);
  if (pairs.length < 2) return undefined;
  const a = klAgreement(pairs);
  return {
    caption: `${a.n} (tensor, type) pairs measured: Spearman ${a.spearman.toFixed(3)} between predicted and measured KL, median |log10(predicted/measured)| ${a.medianAbsLog10.toFixed(2)}; the ${Math.min(limit, pairs.length)} largest disagreements:`,
    table: {
      header: ["tensor", "type", "predicted KL", "from", "measured KL", "predicted / measured"],
      rows: worstDisagreements(pairs, limit).map((p) => [p.tensor, p.type, (p.uncertain ? "~" : "") + fmt(p.predicted), p.source, fmt(p.measured), (p.predicted / p.measured).toFixed(2)]),
      numeric: [false, false, true, false, true, true],
    },
  };
}

export function plansTable(data: ReportData): Table | undefined {
  if (data.plans.length === 0) return undefined;
  return {
    header: ["mix", "kind", "bpw", "MiB", "KL (sum)", "from"],
    rows: data.plans.map((p) => [
      p.label, p.kind, p.bpw.toFixed(3), (p.bytes / 2 ** 20).toFixed(3), p.predictedDamage === undefined ? "–" : (p.uncertain ? "~" : "") + fmt(p.predictedDamage),
      (p.sources ?? []).join(", ") + (p.uncertain ? ` (${p.uncertain} uncertain)` : ""),
    ]),
    numeric: [false, false, true, true, true, false],
  };
}
