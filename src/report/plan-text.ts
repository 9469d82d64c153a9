// Plain-text rendering of a plan, next to llama.cpp's standard mixes.
import { fmtBytes, fmtKl, type PlanResult } from "../analysis/plan.js";

/** A measured KL (reference forward pass) of the plan or a standard mix. */
export interface MeasuredKl {
  readonly name: string;
  readonly bytes: number;
  readonly kl: number;
}

export function formatPlanText(p: PlanResult, measured?: readonly MeasuredKl[]): string {
  const out: string[] = [];
  out.push(`plan for ${p.model}: budget ${fmtBytes(p.budgetBytes)} (${p.budgetBytes} bytes)`);
  out.push("");
  out.push(`${"tensor".padEnd(28)} ${"type".padEnd(7)} ${"bpw".padStart(5)} ${"bytes".padStart(10)} ${(p.damageSource === "measured" ? "measKL" : "predKL").padStart(9)}  why`);
  for (const c of p.choices) {
    out.push(`${c.tensor.padEnd(28)} ${c.type.padEnd(7)} ${c.bpw.toFixed(2).padStart(5)} ${String(c.bytes).padStart(10)} ${fmtKl(c.damage).padStart(9)}  ${c.why}`);
  }
  out.push("");
  const rows: Array<[string, number, number, number, string]> = [["plan", p.fileBytes, p.bpw, p.predictedKl, ""]];
  for (const m of p.mixes) rows.push([m.mix, m.bytes, m.bpw, m.predictedKl, m.klNote ? `(${m.klNote})` : ""]);
  const meas = new Map((measured ?? []).map((m) => [m.name, m.kl]));
  out.push(`${"".padEnd(10)} ${"file bytes".padStart(12)} ${"bpw".padStart(7)} ${(p.damageSource === "measured" ? "Σ single KL" : "predicted KL").padStart(13)}${measured ? " " + "measured KL".padStart(12) : ""}`);
  for (const [name, bytes, bpw, kl, note] of rows) {
    const m = measured ? " " + fmtKl(meas.get(name) ?? NaN).padStart(12) : "";
    out.push(`${name.padEnd(10)} ${String(bytes).padStart(12)} ${bpw.toFixed(3).padStart(7)} ${fmtKl(kl).padStart(13)}${m} ${note}`);
  }
  out.push("");
  out.push(p.damageSource === "measured"
    ? "Σ single KL = sum of the single-tensor KLs measured by the sweep (nats/token); bpw over all tensors; file bytes: the whole GGUF (header, metadata, padding)."
    : "predicted KL = sum of the single-tensor predicted KLs (nats/token); bpw over all tensors; file bytes: the whole GGUF (header, metadata, padding).");
  for (const n of p.notes) out.push(`note: ${n}`);
  return out.join("\n") + "\n";
}

export function formatPlanJson(p: PlanResult & { measured?: readonly MeasuredKl[] }): string {
  return JSON.stringify(p, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n";
}
