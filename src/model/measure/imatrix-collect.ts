// llama-imatrix's statistics from the reference forward pass: for every
// weight matrix, the sum over all evaluated tokens of x_j² of its input
// (in_sum2, f32) and the number of tokens. Each chunk's sums are computed on
// their own (in this thread or a worker) and added in chunk order, so the
// result does not depend on the number of threads.
import type { ForwardModel } from "../../analysis/forward/model.js";
import { embed, headLogits, runLayer, type CaptureKind } from "../../analysis/forward/run.js";
import { logSoftmax } from "../../analysis/forward/ops.js";
import { chunkInput, type Chunking } from "./chunks.js";

/** The weights each captured matmul input feeds (they share their imatrix values). */
const CONSUMERS: Record<CaptureKind, readonly string[]> = {
  attn_input: ["attn_q", "attn_k", "attn_v"],
  attn_output_input: ["attn_output"],
  ffn_input: ["ffn_gate", "ffn_up"],
  ffn_down_input: ["ffn_down"],
};

/** One chunk: Σ x² per column for each captured input ("blk.L.kind"), its token count and NLL sum. */
export interface ImatrixChunk {
  readonly sums: Record<string, Float32Array>;
  readonly tokens: number;
  readonly nll: number;
  readonly scored: number;
}

export function imatrixChunk(model: ForwardModel, tokens: Int32Array, c: Chunking, i: number, bos: number | undefined): ImatrixChunk {
  const input = chunkInput(tokens, c, i, bos);
  const T = input.length;
  const sums: Record<string, Float32Array> = {};
  const h = embed(model, input);
  for (let l = 0; l < model.config.nLayer; l++) {
    runLayer(model, h, T, T, l, {
      capture: (layer, kind, data, cols) => {
        const acc = new Float32Array(cols);
        for (let t = 0; t < T; t++) {
          const o = t * cols;
          for (let j = 0; j < cols; j++) {
            const x = data[o + j]!;
            acc[j] = acc[j]! + Math.fround(x * x);
          }
        }
        sums[`blk.${layer}.${kind}`] = acc;
      },
    });
  }
  const V = model.config.vocab;
  const lp = logSoftmax(headLogits(model, h, T), T, V);
  let nll = 0, scored = 0;
  for (let t = T >> 1; t < T - 1; t++) {
    nll -= lp[t * V + tokens[i * c.nCtx + t + 1]!]!;
    scored++;
  }
  return { sums, tokens: T, nll, scored };
}

export interface ImatrixStats {
  /** Weight name -> per-column Σ x² (f32). */
  readonly sums: Map<string, Float32Array>;
  /** Weight name -> tokens accumulated. */
  readonly counts: Map<string, number>;
  readonly chunks: number;
  readonly chunkSize: number;
  /** llama-imatrix's running perplexity over the second half of each chunk (its log prints it). */
  readonly ppl: number;
}

/** Adds chunks in order. */
export class ImatrixAccumulator {
  private readonly byInput = new Map<string, Float32Array>();
  private tokens = 0;
  private nll = 0;
  private scored = 0;
  private chunks = 0;
  add(ch: ImatrixChunk): void {
    for (const [key, s] of Object.entries(ch.sums)) {
      const acc = this.byInput.get(key);
      if (!acc) this.byInput.set(key, s.slice());
      else for (let j = 0; j < s.length; j++) acc[j] = acc[j]! + s[j]!;
    }
    this.tokens += ch.tokens;
    this.nll += ch.nll;
    this.scored += ch.scored;
    this.chunks++;
  }
  runningPpl(): number {
    return Math.exp(this.nll / this.scored);
  }
  result(chunkSize: number): ImatrixStats {
    const sums = new Map<string, Float32Array>(), counts = new Map<string, number>();
    for (const [key, s] of this.byInput) {
      const [, layer, kind] = /^blk\.(\d+)\.(.+)$/.exec(key)!;
      for (const w of CONSUMERS[kind as CaptureKind]) {
        const name = `blk.${layer}.${w}.weight`;
        sums.set(name, s.slice());
        counts.set(name, this.tokens);
      }
    }
    return { sums, counts, chunks: this.chunks, chunkSize, ppl: this.runningPpl() };
  }
}

export interface CollectOptions {
  readonly bos?: number;
  readonly onChunk?: (done: number, total: number) => void;
}

/** Single-thread collection. */
export function collectImatrix(model: ForwardModel, tokens: Int32Array, c: Chunking, opts: CollectOptions = {}): ImatrixStats {
  const acc = new ImatrixAccumulator();
  for (let i = 0; i < c.count; i++) {
    acc.add(imatrixChunk(model, tokens, c, i, opts.bos));
    opts.onChunk?.(i + 1, c.count);
  }
  return acc.result(c.nCtx);
}
