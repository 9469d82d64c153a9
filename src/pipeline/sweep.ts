// Orchestration of `quantscope sweep` (and of the sweep `plan` runs): open the model, prepare the
// forward-pass harness when single-tensor KL is to be measured, run the sweep (in worker threads when
// that pays). The CLI only parses flags, shows progress and writes the result.
import { QuantscopeError } from "../io/errors.js";
import { openSource, type TensorSource } from "../io/source.js";
import type { SweepOptions } from "../analysis/sweep/sweep.js";
import { sweepParallel } from "../analysis/sweep/parallel.js";
import type { SweepResult } from "../analysis/sweep/types.js";
import { klHarnessFor, type KlText } from "./inputs.js";

export interface SweepFileOptions {
  /** Worker threads (1 when KL is measured: the forward-pass harness lives in this thread). */
  readonly jobs: number;
  /** Paths recorded in the result's provenance. */
  readonly imatrixPath?: string;
  readonly activationsPath?: string;
  readonly calibPath?: string;
  /** Also measure every (tensor, type)'s single-tensor KL on this text with the reference forward pass. */
  readonly measureKl?: KlText;
}

/** Sweeps the model at `model`. The caller closes the returned source (plan goes on reading it). */
export async function sweepFile(model: string, opts: SweepOptions, run: SweepFileOptions): Promise<{ res: SweepResult; src: TensorSource }> {
  if (run.measureKl && opts.sample !== undefined) throw new QuantscopeError("--measure-kl needs an exact sweep (drop --sample)");
  const src = openSource(model);
  try {
    const kl = run.measureKl ? klHarnessFor(src, run.measureKl) : undefined;
    const res = await sweepParallel(src, { ...opts, ...(kl ? { kl } : {}) }, {
      model, imatrix: run.imatrixPath, activations: run.activationsPath, jobs: kl ? 1 : run.jobs, calib: run.calibPath,
    });
    return { res, src };
  } catch (e) {
    src.close();
    throw e;
  }
}
