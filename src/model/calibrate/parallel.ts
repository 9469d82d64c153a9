// calibrate over worker threads (chunks in parallel, summed in chunk order:
// the file does not depend on the number of threads).
import { openSource } from "../../io/source.js";
import { forwardConfig, loadForwardModel } from "../forward/model.js";
import type { Chunking } from "../measure/chunks.js";
import { runChunkPool } from "../measure/chunk-pool.js";
import { CalibAccumulator, collectCalibration, type CalibChunk, type CalibrateOptions, type CalibStats } from "./collect.js";

export interface CalibWorkerInit {
  readonly model: string;
  readonly tokens: Int32Array;
  readonly chunking: Chunking;
  readonly bos?: number;
  readonly opts: CalibrateOptions;
}

export async function calibratePaths(
  model: string, tokens: Int32Array, c: Chunking, bos: number | undefined, opts: CalibrateOptions, jobs: number,
  onChunk?: (done: number, total: number) => void,
): Promise<CalibStats> {
  const threads = Math.max(1, Math.min(jobs, c.count));
  const src = openSource(model);
  let head: string;
  try {
    forwardConfig(src); // an unsupported architecture fails here, before any worker starts
    if (threads === 1) return collectCalibration(loadForwardModel(src), tokens, c, bos, opts, onChunk);
    head = src.tensors().some((t) => t.name === "output.weight") ? "output.weight" : "token_embd.weight";
  } finally {
    src.close();
  }
  const acc = new CalibAccumulator();
  const init: CalibWorkerInit = { model, tokens, chunking: c, bos, opts };
  // the worker file lives in this folder; chunk-pool resolves names next to itself
  await runChunkPool<CalibChunk>("../calibrate/worker", init, c.count, threads, (i, ch) => {
    acc.add(ch);
    onChunk?.(i + 1, c.count);
  });
  return acc.result(c.nCtx, opts.samples ?? 1, head);
}
