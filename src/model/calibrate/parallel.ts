// calibrate over worker threads (chunks in parallel, summed in chunk order:
// the file does not depend on the number of threads).
import { totalmem } from "node:os";
import { QuantscopeError } from "../../io/errors.js";
import { openSource, type TensorSource } from "../../io/source.js";
import { forwardConfig, loadForwardModel, type ForwardConfig } from "../forward/model.js";
import type { Chunking } from "../measure/chunks.js";
import { runChunkPool } from "../measure/chunk-pool.js";
import { CalibAccumulator, collectCalibration, type CalibChunk, type CalibrateOptions, type CalibStats } from "./collect.js";

export interface CalibWorkerInit {
  readonly model: string;
  readonly tokens: Int32Array;
  readonly chunking: Chunking;
  readonly bos?: number;
  readonly opts: CalibrateOptions;
  /** The model's f32 weights in SharedArrayBuffers: read by every worker, held once. */
  readonly weights: ReadonlyMap<string, Float32Array>;
}

/**
 * Rough peak bytes of calibrate: the model as f32 (held once, shared by the threads) and, per thread,
 * one chunk's activations kept for the backward pass, the T × vocab logits / probabilities / logit
 * gradients, the attention's kept probabilities (at most 256 MiB) and two T × T scratch matrices; a
 * quarter more for everything else.
 */
export function calibrateBytes(cfg: ForwardConfig, params: number, T: number, threads: number): number {
  const q = cfg.nHead * cfg.headDim, kv = cfg.nHeadKv * cfg.headDim;
  const ff = cfg.nExpert > 0 ? cfg.nFfExp * cfg.nExpertUsed : cfg.nFf;
  const perTokenLayer = 4 * cfg.nEmbd + 2 * q + 2 * kv + 4 * ff; // f32 values kept per token and layer
  const activations = 4 * T * perTokenLayer * cfg.nLayer;
  const head = T * cfg.vocab * (4 + 8 + 4);
  const attention = Math.min(256 * 2 ** 20, 4 * cfg.nHead * T * T * cfg.nLayer) + 2 * 4 * T * T;
  return 1.25 * (4 * params + threads * (activations + head + attention));
}

/** Every tensor as f32 in a SharedArrayBuffer of its own (worker threads share them instead of loading copies). */
function sharedWeights(src: TensorSource): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of src.tensors()) {
    const into = new Float32Array(new SharedArrayBuffer(4 * t.rows * t.cols));
    out.set(t.name, src.read(t.name, into).data);
  }
  return out;
}

const gib = (b: number) => (b / 2 ** 30).toFixed(1);

export async function calibratePaths(
  model: string, tokens: Int32Array, c: Chunking, bos: number | undefined, opts: CalibrateOptions, jobs: number,
  onChunk?: (done: number, total: number) => void,
  /** Memory the run may plan for (default: this machine's, os.totalmem()). */
  memoryBytes = totalmem(),
): Promise<CalibStats> {
  const threads = Math.max(1, Math.min(jobs, c.count));
  const src = openSource(model);
  let head: string, weights: Map<string, Float32Array>;
  try {
    const cfg = forwardConfig(src); // an unsupported architecture fails here, before any worker starts
    // The whole model is held in memory (no streamed backward pass): refuse up front what would not fit,
    // rather than the forward pass's fixed limit for small validation models.
    const params = src.tensors().reduce((s, t) => s + t.rows * t.cols, 0);
    const need = calibrateBytes(cfg, params, c.nCtx, threads);
    if (need > 0.8 * memoryBytes) {
      const fix = threads > 1 && calibrateBytes(cfg, params, c.nCtx, 1) <= 0.8 * memoryBytes ? "use -j 1" : "use a smaller -c, or a smaller model";
      throw new QuantscopeError(`${model}: calibrate would need about ${gib(need)} GiB (the model's ${(params / 1e9).toFixed(2)} G parameters as f32, and a chunk of ${c.nCtx} tokens' activations in each of ${threads} thread${threads > 1 ? "s" : ""}), more than 80 % of the ${gib(memoryBytes)} GiB here: ${fix}`);
    }
    if (threads === 1) return collectCalibration(loadForwardModel(src, Infinity), tokens, c, bos, opts, onChunk);
    head = src.tensors().some((t) => t.name === "output.weight") ? "output.weight" : "token_embd.weight";
    weights = sharedWeights(src);
  } finally {
    src.close();
  }
  const acc = new CalibAccumulator();
  const init: CalibWorkerInit = { model, tokens, chunking: c, bos, opts, weights };
  // the worker file lives in this folder; chunk-pool resolves names next to itself
  await runChunkPool<CalibChunk>("../calibrate/worker", init, c.count, threads, (i, ch) => {
    acc.add(ch);
    onChunk?.(i + 1, c.count);
  });
  return acc.result(c.nCtx, opts.samples ?? 1, head);
}
