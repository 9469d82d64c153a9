// imatrix over worker threads (chunks in parallel, summed in chunk order).
import { openSource } from "../../io/source.js";
import { forwardConfig, loadForwardModel } from "../forward/model.js";
import type { Chunking } from "./chunks.js";
import { collectImatrix, ImatrixAccumulator, type ImatrixChunk, type ImatrixStats } from "./imatrix-collect.js";
import { runChunkPool } from "./chunk-pool.js";
import { planStream, runStreamed, shouldStream, type StreamPlan, type StreamRunOptions } from "./streamed.js";

export interface ImatrixWorkerInit {
  readonly model: string;
  readonly tokens: Int32Array;
  readonly chunking: Chunking;
  readonly bos?: number;
}

export async function imatrixPaths(
  model: string, tokens: Int32Array, c: Chunking, bos: number | undefined, jobs: number,
  onChunk?: (done: number, total: number, runningPpl: number) => void,
  opts: StreamRunOptions = {},
): Promise<ImatrixStats> {
  const threads = Math.max(1, Math.min(jobs, c.count));
  const src = openSource(model);
  let plan: StreamPlan | undefined;
  try {
    forwardConfig(src); // an unsupported architecture fails here, before any worker starts
    if (shouldStream(src, opts.stream)) plan = planStream(src, c, jobs, opts.batch);
    if (threads === 1 && !plan) {
      const m = loadForwardModel(src);
      return collectImatrix(m, tokens, c, { bos, onChunk: (d, n) => onChunk?.(d, n, NaN) });
    }
  } finally {
    src.close();
  }
  const acc = new ImatrixAccumulator();
  if (plan) {
    let done = 0;
    await runStreamed<ImatrixChunk>({ mode: "imatrix", model, tokens, chunking: c, bos }, plan, (_i, ch) => {
      acc.add(ch);
      onChunk?.(++done, c.count, acc.runningPpl());
    });
    return acc.result(c.nCtx);
  }
  const init: ImatrixWorkerInit = { model, tokens, chunking: c, bos };
  await runChunkPool<ImatrixChunk>("imatrix-worker", init, c.count, threads, (i, ch) => {
    acc.add(ch);
    onChunk?.(i + 1, c.count, acc.runningPpl());
  });
  return acc.result(c.nCtx);
}
