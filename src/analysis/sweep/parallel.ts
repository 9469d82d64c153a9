// Two-core sweep: tensors are handed out one at a time to worker threads
// (each opens the model itself, so memory stays one tensor per worker).
// Records come back in tensor order, identical to the single-thread sweep.
import type { Worker } from "node:worker_threads";
import { spawnWorkerBeside } from "../../io/threads.js";
import type { TensorSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { typeInfo } from "../../quant/index.js";
import { DEFAULT_SWEEP_TYPES, layerCount, sweepModel, sweepResult, sweepWork, type SweepOptions } from "./sweep.js";
import type { SweepRecord, SweepResult } from "./types.js";

/** What a worker needs to rebuild the inputs: paths, not objects. */
export interface SweepPaths {
  readonly model: string;
  readonly imatrix?: string;
  readonly activations?: string;
  readonly jobs: number;
  /** Calibration statistics file (quantscope calibrate). */
  readonly calib?: string;
  /** Override MIN_PARALLEL_WORK (tests). */
  readonly minWork?: number;
}

/** Weights x types below which the sweep stays in one thread. */
export const MIN_PARALLEL_WORK = 20e6;

export interface WorkerInit {
  readonly model: string;
  readonly imatrix?: string;
  readonly activations?: string;
  readonly types: string[];
  readonly sample?: number;
  readonly seed?: number;
  readonly flatten?: boolean;
  readonly nLayers: number;
  readonly calib?: string;
}

export async function sweepParallel(src: TensorSource, opts: SweepOptions, paths: SweepPaths): Promise<SweepResult> {
  const { all, mine, passengers } = sweepWork(src, opts);
  const swept = mine.map((t) => t.name);
  // Workers cost a start-up (module loading; seconds under tsx): below a
  // few tens of millions of weight x type quantizations one thread is faster.
  const nTypes = (opts.types ?? DEFAULT_SWEEP_TYPES).length;
  const elements = swept.reduce((s, n) => { const t = src.tensor(n); return s + t.rows * t.cols; }, 0);
  const work = elements * nTypes * (opts.sample ?? 1);
  const jobs = work < (paths.minWork ?? MIN_PARALLEL_WORK) ? 1 : Math.min(paths.jobs, swept.length);
  if (jobs <= 1 || opts.kl) return sweepModel(src, opts);
  const t0 = performance.now();
  const types = (opts.types ?? DEFAULT_SWEEP_TYPES).map((t) => typeInfo(t).name);
  const nLayers = layerCount(src);
  const init: WorkerInit = {
    model: paths.model, imatrix: paths.imatrix, activations: paths.activations, types,
    sample: opts.sample, seed: opts.seed, flatten: opts.flatten, nLayers, calib: paths.calib,
  };
  const results: SweepRecord[][] = new Array(swept.length);
  const total = swept.length * types.length;
  let done = 0;
  let next = 0;
  opts.onProgress?.(0, total, "starting");
  await new Promise<void>((resolve, reject) => {
    let live = jobs;
    let failed = false;
    const workers: Worker[] = [];
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      for (const w of workers) void w.terminate();
      reject(e);
    };
    for (let k = 0; k < jobs; k++) {
      const w = spawnWorkerBeside(import.meta.url, "worker", init);
      workers.push(w);
      const feed = () => {
        if (next < swept.length) { const i = next++; w.postMessage({ index: i, global: mine[i]!.index, name: swept[i] }); }
        else { void w.terminate(); if (--live === 0 && !failed) resolve(); }
      };
      w.on("message", (m: { index: number; records?: SweepRecord[]; error?: { message: string; user: boolean } }) => {
        if (m.error) { fail(m.error.user ? new QuantscopeError(m.error.message) : new Error(m.error.message)); return; }
        results[m.index] = m.records!;
        done += types.length;
        opts.onProgress?.(done, total, swept[m.index]!);
        feed();
      });
      w.on("error", fail);
      feed();
    }
  });
  return sweepResult(src, opts, nLayers, types, results.flat(), passengers, t0, { all, mine: swept });
}
