// quantscope's plan at the sizes of llama.cpp's standard mixes, over the
// reported tensors: the same budget as Q3_K_M / Q4_K_M / Q5_K_M, spent where
// the sweep predicts it hurts most (src/analysis/plan/plan.ts does the allocation).
import { QuantscopeError } from "../../io/errors.js";
import { plan } from "../plan/plan.js";
import type { SweepRecord, SweepResult } from "../sweep/types.js";
import type { PlanSummary } from "./model.js";

/** Mixes whose size the plan is asked to match. */
export const PLAN_AT_MIXES = ["Q3_K_M", "Q4_K_M", "Q5_K_M"];

export function plansAtMixSizes(model: string, records: SweepRecord[], mixes: readonly PlanSummary[], hasImatrix: boolean, notes: string[]): PlanSummary[] {
  const sweep: SweepResult = {
    model, architecture: "", nLayers: 0, types: [...new Set(records.map((r) => r.requestedType))],
    imatrix: null, activations: null, sampleFraction: 1, seed: 1, records, passengers: [], notes: [], seconds: 0,
  };
  const out: PlanSummary[] = [];
  for (const label of PLAN_AT_MIXES) {
    const mix = mixes.find((m) => m.label === label);
    if (!mix) continue;
    try {
      // Budget in bytes, not bpw: exactly the mix's bytes over the same tensors.
      const p = plan(sweep, { targetSize: mix.bytes, hasImatrix });
      out.push({
        label: `plan @ ${label} size`, kind: "plan", baseline: label, bpw: p.bpw, bytes: p.bytes, predictedDamage: p.predictedKl,
        sources: [...new Set(p.choices.map((c) => c.source))], uncertain: p.choices.filter((c) => c.uncertain).length,
        entries: p.choices.map((c) => ({ tensor: c.tensor, type: c.type })),
      });
    } catch (e) {
      if (!(e instanceof QuantscopeError)) throw e;
      notes.push(`no plan at ${label}'s size: ${e.message}`);
    }
  }
  return out;
}
