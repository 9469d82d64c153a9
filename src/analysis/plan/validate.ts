// Measured KL of a whole type assignment (a plan or a standard mix): every
// tensor quantized to its type at once, run through the reference forward
// pass, compared with the unquantized model. Small llama/qwen models only.
import type { Imatrix, TensorSource } from "../../io/source.js";
import { measureKl, type KlHarness } from "../../model/forward/kl.js";
import { roundTrip } from "../sweep/sweep.js";

/** Mean KL (nats/token) with every tensor of `assignment` replaced by its quantized-dequantized copy. */
export function measureAssignmentKl(src: TensorSource, hx: KlHarness, assignment: ReadonlyMap<string, string>, imatrix?: Imatrix): number {
  const overrides = new Map<string, Float32Array>();
  for (const [name, type] of assignment) {
    const t = type.toUpperCase();
    if (t === "F32") continue;
    const W = src.read(name);
    if (W.rows * W.cols <= W.cols) continue; // 1-D: stays F32
    const v = imatrix?.entries.get(name)?.values;
    overrides.set(name, roundTrip(t, W.data, W.rows, W.cols, v && v.length === W.cols ? v : undefined));
  }
  return measureKl(hx, overrides);
}

/** One measured whole-assignment KL, as `plan --measure-kl` prints it beside the plan. */
export interface MeasuredKl {
  readonly name: string;
  readonly bytes: number;
  readonly kl: number;
}
