// The report's tables as plain rows of strings, shared by the HTML and the
// Markdown so both show the same numbers.
import { fmt, type Diagnosis } from "../analysis/diagnosis.js";
import type { ReportData, TensorEvidence } from "../analysis/diagnosis-model.js";

export interface Table {
  readonly header: string[];
  readonly rows: string[][];
  /** Columns to right-align (numbers). */
  readonly numeric?: boolean[];
}

const pct = (x: number | undefined, d = 2): string => (x === undefined || !Number.isFinite(x) ? "–" : `${(x * 100).toFixed(d)} %`);

export function rankingTable(diag: Diagnosis, limit = 15): Table {
  return {
    header: ["#", "tensor", diag.ranking[0]?.scoreName ?? "score"],
    rows: diag.ranking.slice(0, limit).map((r, i) => [String(i + 1), r.tensor, fmt(r.score)]),
    numeric: [true, false, true],
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
  return {
    header: ["type", "bpw", "rel. weight RMSE", "rel. output error", "same, no imatrix", "predicted KL"],
    rows: t.curve.map((p) => [p.type, p.bpw.toFixed(3), pct(p.relRmse), pct(p.relOutputError), pct(p.relOutputErrorWithoutImatrix), fmt(p.sensitivity)]),
    numeric: [false, true, true, true, true, true],
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

export function plansTable(data: ReportData): Table | undefined {
  if (data.plans.length === 0) return undefined;
  return {
    header: ["mix", "kind", "bpw", "MiB", "predicted KL (sum)"],
    rows: data.plans.map((p) => [p.label, p.kind, p.bpw.toFixed(3), (p.bytes / 2 ** 20).toFixed(3), p.predictedDamage === undefined ? "–" : fmt(p.predictedDamage)]),
    numeric: [false, false, true, true, true],
  };
}
