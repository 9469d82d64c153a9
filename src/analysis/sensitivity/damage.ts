// The damage (single-tensor KL) a plan, a mix price or a ranking uses for one
// record, and where it came from: the KL measured with the reference forward
// pass when the sweep measured it (`--measure-kl`), else the prediction
// (calibration statistics, or the gain table on the output error from
// activations / imatrix / weights). Every output names the source.
import type { SweepRecord } from "../sweep/types.js";

export type DamageSource = "measured" | "calib" | "activations" | "imatrix" | "weights";

/** Where a record's prediction came from (older sweep files lack sensitivitySource: it follows outputErrorSource). */
export function predictionSource(r: Pick<SweepRecord, "sensitivitySource" | "outputErrorSource">): Exclude<DamageSource, "measured"> {
  return r.sensitivitySource ?? (r.outputErrorSource === "none" ? "weights" : r.outputErrorSource);
}

/** Measured KL when there is one, else the predicted KL; `uncertain` when the prediction carries a basis (~). */
export function damageOf(r: SweepRecord): { value: number; source: DamageSource; uncertain: boolean } {
  if (r.measuredKl !== undefined && r.measuredKl !== null && Number.isFinite(r.measuredKl)) return { value: r.measuredKl, source: "measured", uncertain: false };
  return { value: r.sensitivity, source: predictionSource(r), uncertain: r.sensitivityBasis !== undefined };
}
