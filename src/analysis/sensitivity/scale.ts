// The model-level scale of the sweep's fallback prediction (no calibration
// statistics): once every record exists, the model's residual-stream
// energies (sensitivity/energy.ts: one extra read of the residual writes,
// the embeddings and the head) give its scale S, and every gain-table
// prediction is multiplied by S · exp(MODEL_SCALE_LOG) (sensitivity/gain-table.ts). One
// factor per model: rankings and plans do not change, the level does.
// Expert tensors and layouts the energies do not cover keep the unscaled table.
import type { Imatrix, TensorSource } from "../../io/source.js";
import { modelScaleFactor } from "./gain-table.js";
import { modelScale, residualEnergies } from "./energy.js";
import type { Ci95, SweepRecord } from "../sweep/types.js";

export function withModelScale(src: TensorSource, nLayers: number, imatrix: Imatrix | undefined, records: SweepRecord[]): SweepRecord[] {
  const todo = (r: SweepRecord) => !r.skipped && !r.experts && !r.sensitivityBasis && r.sensitivitySource !== undefined && r.sensitivitySource !== "calib";
  if (!records.some(todo)) return records;
  const e = residualEnergies(src, nLayers, imatrix);
  const s = e ? modelScale(e) : NaN;
  if (!(s > 0 && Number.isFinite(s))) return records;
  const k = modelScaleFactor(s, imatrix ? "imatrix" : "weights");
  return records.map((r) => !todo(r) ? r : {
    ...r, sensitivity: r.sensitivity * k, sensitivityScale: k,
    ...(r.ci95 ? { ci95: { ...r.ci95, sensitivity: [r.ci95.sensitivity[0] * k, r.ci95.sensitivity[1] * k] as Ci95 } } : {}),
  });
}
