// Plain-text table of a sweep: one line per (tensor, type).
import type { SweepRecord, SweepResult } from "../analysis/sweep/types.js";

function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "-";
  if (x === 0) return "0";
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(digits) : x.toExponential(digits - 1);
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function ci(r: SweepRecord, key: "outputRelErr" | "sensitivity" | "rmse"): string {
  const c = r.ci95?.[key];
  return c ? ` [${num(c[0], 2)}, ${num(c[1], 2)}]` : "";
}

export function formatSweepText(res: SweepResult): string {
  const out: string[] = [];
  out.push(`sweep of ${res.model} (${res.architecture}, ${res.nLayers} layers)`);
  out.push(`types: ${res.types.join(", ")}   imatrix: ${res.imatrix ?? "none"}   activations: ${res.activations ?? "none"}   rows: ${res.sampleFraction >= 1 ? "all (exact)" : `${(res.sampleFraction * 100).toFixed(1)} % sample, seed ${res.seed}`}`);
  out.push("");
  const head = [
    pad("tensor", 28), pad("type", 13), pad("bpw", 5, true), pad("rmse", 9, true), pad("rel", 8, true), pad("max|e|", 9, true),
    pad("med|e|", 9, true), pad("p95|e|", 9, true), pad("imatMSE", 9, true), pad("outRel", 8, true), pad("src", 4), pad("predKL", 9, true), pad("from", 11),
  ];
  const measured = res.records.some((r) => r.measuredKl !== undefined);
  if (measured) head.push(pad("measKL", 9, true));
  out.push(head.join(" "));
  for (const r of res.records) {
    const type = r.requestedType === r.type ? r.type : `${r.requestedType}>${r.type}`;
    if (r.skipped) {
      out.push(`${pad(r.tensor, 28)} ${pad(type, 13)} skipped: ${r.skipped}`);
      continue;
    }
    const row = [
      pad(r.tensor, 28), pad(type + (r.fallback ? "*" : ""), 13), pad(r.bpw.toFixed(2), 5, true), pad(num(r.rmse), 9, true),
      pad(num(r.relRmse), 8, true), pad(num(r.maxAbsErr), 9, true), pad(num(r.medianAbsErr), 9, true), pad(num(r.p95AbsErr), 9, true),
      pad(num(r.imatrixMse), 9, true), pad(num(r.outputRelErr), 8, true),
      pad(r.outputErrorSource === "activations" ? "act" : r.outputErrorSource === "imatrix" ? "imat" : "w", 4),
      pad((r.sensitivityBasis ? "~" : "") + num(r.sensitivity), 9, true) + ci(r, "sensitivity"), pad(r.sensitivitySource ?? "-", 11),
    ];
    if (measured) row.push(pad(num(r.measuredKl), 9, true));
    out.push(row.join(" "));
  }
  out.push("");
  out.push("* = llama-quantize's fallback type (row length does not fit the block).  src: act = measured on activations, imat = imatrix estimate, w = weight-space.");
  out.push("predKL = predicted KL divergence (nats/token) of the next-token distribution with only this tensor quantized; see docs/sweep.md.");
  if (res.records.some((r) => r.sensitivityBasis && !r.sensitivityBasis.missingFacts)) out.push("~ = borrowed gain (expert tensors: the dense FFN gain, no MoE fit): uncertain within the factor in the JSON's sensitivityBasis.");
  if (res.records.some((r) => r.sensitivityBasis?.missingFacts)) out.push("~ = uncertain: the gain table's prediction depends on model facts this source does not show (see the note; range in the JSON's sensitivityBasis).");
  out.push("from = what predicted it: calib = calibration statistics (docs/sensitivity.md), else the gain table on outRel from activations / imatrix / weights, scaled to the model (docs/sweep.md).");
  for (const n of res.notes) out.push(`note: ${n}`);
  out.push(`${res.records.length} records in ${res.seconds.toFixed(2)} s`);
  return out.join("\n") + "\n";
}

/** JSON: the whole result; records are one object per (tensor, type). NaN becomes null. */
export function formatSweepJson(res: SweepResult): string {
  return JSON.stringify(res, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n";
}
