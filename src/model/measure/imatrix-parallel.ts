// imatrix over worker threads (chunks in parallel, summed in chunk order).
import { openSource } from "../../io/source.js";
import { forwardConfig, loadForwardModel } from "../../analysis/forward/model.js";
import type { Chunking } from "./chunks.js";
import { collectImatrix, ImatrixAccumulator, type ImatrixChunk, type ImatrixStats } from "./imatrix-collect.js";
import { runChunkPool } from "./chunk-pool.js";

export interface ImatrixWorkerInit {
  readonly model: string;
  readonly tokens: Int32Array;
  readonly chunking: Chunking;
  readonly bos?: number;
}

export async function imatrixPaths(
  model: string, tokens: Int32Array, c: Chunking, bos: number | undefined, jobs: number,
  onChunk?: (done: number, total: number, runningPpl: number) => void,
): Promise<ImatrixStats> {
  const threads = Math.max(1, Math.min(jobs, c.count));
  const src = openSource(model);
  try {
    forwardConfig(src); // an unsupported architecture fails here, before any worker starts
    if (threads === 1) {
      const m = loadForwardModel(src);
      return collectImatrix(m, tokens, c, { bos, onChunk: (d, n) => onChunk?.(d, n, NaN) });
    }
  } finally {
    src.close();
  }
  const acc = new ImatrixAccumulator();
  const init: ImatrixWorkerInit = { model, tokens, chunking: c, bos };
  await runChunkPool<ImatrixChunk>("imatrix-worker", init, c.count, threads, (i, ch) => {
    acc.add(ch);
    onChunk?.(i + 1, c.count, acc.runningPpl());
  });
  return acc.result(c.nCtx);
}
