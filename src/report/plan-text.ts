// Plain-text rendering of a plan, next to llama.cpp's standard mixes.
import { fmtBytes, fmtKl, type PlanResult } from "../analysis/plan/plan.js";

/** A measured KL (reference forward pass) of the plan or a standard mix. */
import type { MeasuredKl } from "../analysis/plan/validate.js";
export type { MeasuredKl };

export function formatPlanText(p: PlanResult, measured?: readonly MeasuredKl[]): string {
  const out: string[] = [];
  out.push(`plan for ${p.model}: budget ${fmtBytes(p.budgetBytes)} (${p.budgetBytes} bytes)`);
  out.push("");
  const measuredAll = p.choices.length > 0 && p.choices.every((c) => c.source === "measured");
  const head = measuredAll ? "KL" : "predKL";
  out.push(`${"tensor".padEnd(28)} ${"type".padEnd(7)} ${"bpw".padStart(5)} ${"bytes".padStart(10)} ${head.padStart(10)} ${"from".padEnd(11)}  why`);
  for (const c of p.choices) {
    const kl = (c.uncertain ? "~" : "") + fmtKl(c.damage);
    out.push(`${c.tensor.padEnd(28)} ${c.type.padEnd(7)} ${c.bpw.toFixed(2).padStart(5)} ${String(c.bytes).padStart(10)} ${kl.padStart(10)} ${c.source.padEnd(11)}  ${c.why}`);
  }
  out.push("");
  const rows: Array<[string, number, number, number, string]> = [["plan", p.fileBytes, p.bpw, p.predictedKl, ""]];
  for (const m of p.mixes) rows.push([m.mix, m.bytes, m.bpw, m.predictedKl, m.klNote ? `(${m.klNote})` : ""]);
  const meas = new Map((measured ?? []).map((m) => [m.name, m.kl]));
  out.push(`${"".padEnd(10)} ${"file bytes".padStart(12)} ${"bpw".padStart(7)} ${(measuredAll ? "KL (sum)" : "predicted KL").padStart(13)}${measured ? " " + "measured KL".padStart(12) : ""}`);
  for (const [name, bytes, bpw, kl, note] of rows) {
    const m = measured ? " " + fmtKl(meas.get(name) ?? NaN).padStart(12) : "";
    out.push(`${name.padEnd(10)} ${String(bytes).padStart(12)} ${bpw.toFixed(3).padStart(7)} ${fmtKl(kl).padStart(13)}${m} ${note}`);
  }
  out.push("");
  out.push(`${measuredAll ? "KL (sum) = sum of the single-tensor KLs measured by sweep --measure-kl" : "predicted KL = sum of the single-tensor predicted KLs"} (nats/token); bpw over all tensors; file bytes: the whole GGUF (header, metadata, padding).`);
  out.push(fromLine(p));
  // a sum of single-tensor KLs cannot see how the errors combine on a particular text (docs/sensitivity.md)
  if (!measured) out.push("A sum leaves out how the tensors' errors combine on a particular text (on tinyqwen's 2,048-token windows that added 0 to 14 % to the whole model's KL and moved plan/mix ratios by a few hundredths): --measure-kl TEXT measures the plan and the mixes whole.");
  const unsure = p.choices.filter((c) => c.uncertain);
  if (unsure.length) {
    out.push(`~ = uncertain prediction, range: ${unsure.map((c) => `${c.tensor} ${fmtKl(c.uncertain!.range[0])}..${fmtKl(c.uncertain!.range[1])}`).join(", ")}; ${[...new Set(unsure.map((c) => c.uncertain!.note))].join("; ")}`);
  }
  for (const n of p.notes) out.push(`note: ${n}`);
  return out.join("\n") + "\n";
}

/** from = which source each tensor's KL came from, with counts. */
function fromLine(p: PlanResult): string {
  const n = new Map<string, number>();
  for (const c of p.choices) n.set(c.source, (n.get(c.source) ?? 0) + 1);
  const what: Record<string, string> = {
    measured: "reference forward pass, sweep --measure-kl", calib: "calibration statistics",
    activations: "gain table on activation errors", imatrix: "gain table on imatrix errors", weights: "gain table on weight errors", unknown: "not swept",
  };
  return `from = where each KL came from: ${[...n].map(([k, v]) => `${k} (${what[k] ?? k}) for ${v} tensor${v === 1 ? "" : "s"}`).join(", ")}.`;
}

export function formatPlanJson(p: PlanResult & { measured?: readonly MeasuredKl[] }): string {
  return JSON.stringify(p, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n";
}
