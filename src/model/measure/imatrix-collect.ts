// llama-imatrix's statistics from the reference forward pass: for every
// weight matrix, the sum over all evaluated tokens of x_j² of its input
// (in_sum2, accumulated in f32 like llama.cpp) and the number of tokens.
import type { ForwardModel } from "../../analysis/forward/model.js";
import { embed, headLogits, runLayer, type CaptureKind } from "../../analysis/forward/run.js";
import { logSoftmax } from "../../analysis/forward/ops.js";
import { chunkInput, type Chunking } from "./chunks.js";

/** The weights each captured matmul input feeds. */
const CONSUMERS: Record<CaptureKind, readonly string[]> = {
  attn_input: ["attn_q", "attn_k", "attn_v"],
  attn_output_input: ["attn_output"],
  ffn_input: ["ffn_gate", "ffn_up"],
  ffn_down_input: ["ffn_down"],
};

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

export interface CollectOptions {
  readonly bos?: number;
  readonly onChunk?: (done: number, total: number) => void;
}

export function collectImatrix(model: ForwardModel, tokens: Int32Array, c: Chunking, opts: CollectOptions = {}): ImatrixStats {
  const sums = new Map<string, Float32Array>();
  const counts = new Map<string, number>();
  const V = model.config.vocab;
  let nll = 0, scored = 0;
  for (let i = 0; i < c.count; i++) {
    const input = chunkInput(tokens, c, i, opts.bos);
    const T = input.length;
    const h = embed(model, input);
    for (let l = 0; l < model.config.nLayer; l++) {
      runLayer(model, h, T, T, l, {
        capture: (layer, kind, data, cols) => {
          const first = `blk.${layer}.${CONSUMERS[kind][0]}.weight`;
          let acc = sums.get(first);
          if (!acc) {
            acc = new Float32Array(cols);
            for (const w of CONSUMERS[kind]) sums.set(`blk.${layer}.${w}.weight`, acc); // same input: shared values
          }
          for (let t = 0; t < T; t++) {
            const o = t * cols;
            for (let j = 0; j < cols; j++) {
              const x = data[o + j]!;
              acc[j] = acc[j]! + Math.fround(x * x);
            }
          }
          for (const w of CONSUMERS[kind]) counts.set(`blk.${layer}.${w}.weight`, (counts.get(`blk.${layer}.${w}.weight`) ?? 0) + T);
        },
      });
    }
    const lp = logSoftmax(headLogits(model, h, T), T, V);
    for (let t = T >> 1; t < T - 1; t++) {
      nll -= lp[t * V + tokens[i * c.nCtx + t + 1]!]!;
      scored++;
    }
    opts.onChunk?.(i + 1, c.count);
  }
  // names whose input is shared must not share one array in the result
  for (const [name, acc] of sums) sums.set(name, acc.slice());
  return { sums, counts, chunks: c.count, chunkSize: c.nCtx, ppl: Math.exp(nll / scored) };
}
