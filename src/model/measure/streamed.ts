// eval and imatrix over the streamed forward pass (model/forward/stream.ts)
// for models too big to hold as float32: chunks go through the model in
// batches (one pass over the weights per batch), each worker thread streaming
// its own batches. Results are per chunk and summed in chunk order, so they
// equal the in-memory path's.
import { openSource, readImatrix, type TensorSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { LayerPool, StreamedModel, sourceParams } from "../forward/stream.js";
import { forwardKernelsAvailable } from "../forward/matmul-wasm.js";
import { chunkInput, scoredRows, type Chunking } from "./chunks.js";
import { scoreLogits, type ChunkScores } from "./eval.js";
import { ImatrixCapture, nllOf, type ImatrixChunk } from "./imatrix-collect.js";
import { runChunkPool } from "./chunk-pool.js";
import { simulationRewrite } from "./simulate.js";

/** Models above this many parameters take the streamed path (the in-memory pass's limit). */
export const STREAM_THRESHOLD = 200e6;

export interface StreamPlan {
  /** Chunks per pass over the weights. */
  readonly batch: number;
  /** Worker threads (each streams its own batches and holds one layer). */
  readonly threads: number;
  /** Estimated peak bytes per thread. */
  readonly bytesPerThread: number;
}

/** Memory budget of the streamed path (all threads together). */
export const STREAM_BUDGET = 1.8 * 2 ** 30;

/** Chunks per batch and threads so that the estimated peak stays within the budget. */
export function planStream(src: TensorSource, c: Chunking, jobs: number, maxBatch = 4, budget = STREAM_BUDGET, sides = 1): StreamPlan {
  const infos = src.tensors();
  // With the forward kernels' module, a layer's matrices live in its layer arena, read in place (F16
  // ones as F16, unless a simulated quantization (sides 2) may rewrite them); without it, as float32
  // in JS, each matmul copying its matrix into kernel memory.
  const arena = forwardKernelsAvailable();
  let layer = 0, largest = 0;
  const perLayer = new Map<string, number>();
  for (const t of infos) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (!m) continue;
    const n = t.rows * t.cols * (arena && sides === 1 && t.type === "F16" && t.shape.length === 2 ? 2 : 4);
    perLayer.set(m[1]!, (perLayer.get(m[1]!) ?? 0) + n);
    largest = Math.max(largest, t.rows * t.cols * 4);
  }
  for (const v of perLayer.values()) layer = Math.max(layer, v);
  const md = src.metadata, arch = String(md.get("general.architecture"));
  const num = (k: string): number => Number(md.get(`${arch}.${k}`) ?? 0);
  const E = num("embedding_length"), F = Math.max(num("feed_forward_length"), num("expert_feed_forward_length") * Math.max(1, num("expert_used_count")));
  const V = src.tensor("token_embd.weight").rows;
  // the head's weights (kept as float32 up to 256 MiB, else ~64 MiB blocks) and their copy in kernel
  // memory per matmul; logits (and log-probabilities) for the scored half of a chunk only
  const headWeights = Math.min(V * E * 4, 256 * 2 ** 20);
  const head = (arena ? 2 * (V * E * 4 <= 256 * 2 ** 20 ? headWeights : 64 * 2 ** 20) : headWeights) + V * Math.ceil(c.nCtx / 2) * 4 * 1.25;
  const perToken = (E * 8 + F * 4) * 4;
  // with a base model (eval --base, --tensor-types) each thread holds the head and logits of both
  // (the layer buffers are shared: the two run one after the other)
  // (a simulated quantization's codecs take scratch about the size of the matrix they rewrite)
  const fixed = layer + head * sides + (arena && sides === 1 ? 0 : largest * 1.5) + 64 * 2 ** 20;
  let threads = Math.max(1, Math.min(jobs, c.count));
  let batch = 1;
  const cost = (b: number) => fixed + b * c.nCtx * perToken;
  while (threads > 1 && threads * cost(1) > budget) threads--;
  const perThread = Math.ceil(c.count / threads);
  while (batch < Math.min(maxBatch, perThread) && threads * cost(batch + 1) <= budget) batch++;
  return { batch, threads, bytesPerThread: cost(batch) };
}

export function shouldStream(src: TensorSource, force?: boolean): boolean {
  return force ?? sourceParams(src) > STREAM_THRESHOLD;
}

/** The chunk indices of batch b. */
export function batchChunks(c: Chunking, batch: number, b: number): number[] {
  const out: number[] = [];
  for (let i = b * batch; i < Math.min(c.count, (b + 1) * batch); i++) out.push(i);
  return out;
}

function batchInput(tokens: Int32Array, c: Chunking, chunks: readonly number[], bos: number | undefined): Int32Array {
  const input = new Int32Array(chunks.length * c.nCtx);
  chunks.forEach((i, k) => input.set(chunkInput(tokens, c, i, bos), k * c.nCtx));
  return input;
}

/** eval scores of a batch of chunks (base first when given, its final hidden states kept, not its logits). */
export function streamedScores(side: StreamedModel, base: StreamedModel | undefined, tokens: Int32Array, c: Chunking, chunks: readonly number[], bos: number | undefined): ChunkScores[] {
  const V = side.config.vocab, E = side.config.nEmbd, T = c.nCtx;
  if (base && (base.config.vocab !== V || base.config.nEmbd === 0)) {
    throw new QuantscopeError(`${base.src.path}: vocabulary of ${base.config.vocab} tokens differs from ${side.src.path}'s ${V}`);
  }
  const input = batchInput(tokens, c, chunks, bos);
  // only the scored positions' logits are needed: their rows of the last layer and of the head
  const { from, rows } = scoredRows(T);
  const hb = base ? base.hidden(input, T, { keepFrom: from }) : undefined;
  const hs = side.hidden(input, T, { keepFrom: from });
  const logits = new Float32Array(rows * V);
  const baseLogits = base ? new Float32Array(rows * V) : undefined;
  return chunks.map((i, k) => {
    if (base) base.headLogits(hb!.subarray((k * T + from) * base.config.nEmbd), rows, baseLogits);
    side.headLogits(hs.subarray((k * T + from) * E), rows, logits);
    return scoreLogits(logits, baseLogits, V, T, tokens, c, i, from);
  });
}

/** imatrix sums of a batch of chunks, each chunk's sums computed from its own rows. */
export function streamedImatrix(model: StreamedModel, tokens: Int32Array, c: Chunking, chunks: readonly number[], bos: number | undefined): ImatrixChunk[] {
  const T = c.nCtx, V = model.config.vocab, E = model.config.nEmbd;
  const input = batchInput(tokens, c, chunks, bos);
  const perChunk = chunks.map((_, k) => new ImatrixCapture(T, k * T));
  const h = model.hidden(input, T, {
    capture: (layer, kind, data, cols, routing) => { for (const cap of perChunk) cap.add(layer, kind, data, cols, routing); },
  });
  // the running perplexity needs only the scored positions' logits (every row's layers feed the sums)
  const { from, rows } = scoredRows(T);
  const logits = new Float32Array(rows * V);
  return chunks.map((i, k) => {
    model.headLogits(h.subarray((k * T + from) * E), rows, logits);
    const { nll, scored } = nllOf(logits, T, V, tokens, c, i, from);
    return { sums: perChunk[k]!.sums, expertCounts: perChunk[k]!.expertCounts, tokens: T, nll, scored };
  });
}

/** Simulated quantization of the evaluated side (eval --tensor-types / --plan), by value so worker threads can rebuild it. */
export interface StreamSimulation {
  /** [tensor, type] of every tensor whose type changes. */
  readonly types: readonly (readonly [string, string])[];
  readonly imatrix?: string;
}

/** Opens a streamed model by path (worker threads do this themselves); with `sim`, each tensor is quantized and dequantized as it is read. */
export function openStreamed(path: string, numerics: "exact" | "llama" = "exact", sim?: StreamSimulation, pool?: LayerPool): StreamedModel {
  const rewrite = sim
    ? simulationRewrite(sim.types.map(([tensor, type]) => ({ tensor, type, source: "" })), sim.imatrix ? readImatrix(sim.imatrix) : undefined)
    : undefined;
  return new StreamedModel(openSource(path), { numerics, rewrite, pool });
}

export interface StreamWorkerInit {
  readonly mode: "eval" | "imatrix";
  readonly model: string;
  readonly base?: string;
  /** eval: the evaluated side's simulated quantization (the base is then the model itself, unquantized). */
  readonly simulate?: StreamSimulation;
  readonly tokens: Int32Array;
  readonly chunking: Chunking;
  readonly bos?: number;
  readonly batch: number;
}

export interface StreamRunOptions {
  /** Force the streamed path (true) or the in-memory one (false); default: by size (> STREAM_THRESHOLD parameters). */
  readonly stream?: boolean;
  /** Chunks per pass over the weights (default: planned from the memory budget, at most 4). */
  readonly batch?: number;
}

/**
 * Runs batches of chunks through streamed models, in this thread (threads = 1)
 * or on worker threads, delivering each chunk's result in chunk order.
 */
export async function runStreamed<R>(init: Omit<StreamWorkerInit, "batch">, plan: StreamPlan, inOrder: (index: number, r: R) => void): Promise<void> {
  const c = init.chunking;
  const nBatch = Math.ceil(c.count / plan.batch);
  const full: StreamWorkerInit = { ...init, batch: plan.batch };
  if (plan.threads === 1) {
    // eval rounds matmul inputs as llama.cpp does (as the in-memory eval); imatrix keeps exact inputs
    const numerics = init.mode === "eval" ? "llama" : "exact";
    const pool = new LayerPool(); // base and side run one after the other: one layer's buffers serve both
    const side = openStreamed(init.model, numerics, init.simulate, pool);
    const base = init.base ? openStreamed(init.base, numerics, undefined, pool) : undefined;
    try {
      for (let b = 0; b < nBatch; b++) {
        const chunks = batchChunks(c, plan.batch, b);
        const rs = (init.mode === "eval"
          ? streamedScores(side, base, init.tokens, c, chunks, init.bos)
          : streamedImatrix(side, init.tokens, c, chunks, init.bos)) as R[];
        rs.forEach((r, k) => inOrder(chunks[k]!, r));
      }
    } finally {
      side.src.close();
      base?.src.close();
    }
    return;
  }
  await runChunkPool<R[]>("stream-worker", full, nBatch, plan.threads, (b, rs) => {
    const chunks = batchChunks(c, plan.batch, b);
    rs.forEach((r, k) => inOrder(chunks[k]!, r));
  });
}
