// llama-imatrix's statistics from the reference forward pass: for every
// weight matrix, the sum over all evaluated tokens of x_j² of its input
// (in_sum2, f32) and the number of tokens. Each chunk's sums are computed on
// their own (in this thread or a worker) and added in chunk order, so the
// result does not depend on the number of threads.
import type { ForwardModel } from "../forward/model.js";
import { embed, headLogits, runLayer, type CaptureKind, type Routing } from "../forward/run.js";
import { chunkInput, scoredRows, type Chunking } from "./chunks.js";
import { sumSquaresWasm } from "../forward/matmul-wasm.js";

/** The weights each captured matmul input feeds (they share their imatrix values). */
const CONSUMERS: Record<string, readonly string[]> = {
  attn_input: ["attn_q", "attn_k", "attn_v"],
  attn_output_input: ["attn_output"],
  ffn_input: ["ffn_gate", "ffn_up"],
  ffn_down_input: ["ffn_down"],
  // MoE layers: the router reads ffn_input densely; expert matrices per expert.
  "ffn_input@router": ["ffn_gate_inp"],
  "ffn_input@exps": ["ffn_gate_exps", "ffn_up_exps"],
  "ffn_down_input@exps": ["ffn_down_exps"],
};

/**
 * One chunk: Σ x² per column for each captured input ("blk.L.kind"; expert
 * inputs "blk.L.kind@exps" hold nExpert × cols), the tokens routed to each
 * expert, the chunk's token count and NLL sum.
 */
export interface ImatrixChunk {
  readonly sums: Record<string, Float32Array>;
  readonly expertCounts: Record<string, number[]>;
  readonly tokens: number;
  readonly nll: number;
  readonly scored: number;
}

/** Collects one chunk's Σ x² from the forward pass's captures (tokens [t0, t0 + T) of a batch). */
export class ImatrixCapture {
  readonly sums: Record<string, Float32Array> = {};
  readonly expertCounts: Record<string, number[]> = {};
  constructor(private readonly T: number, private readonly t0 = 0) {}
  add(layer: number, kind: CaptureKind, data: Float32Array, cols: number, routing?: Routing): void {
    const { T, t0 } = this;
    if (!routing) {
      this.sums[`blk.${layer}.${kind}`] = sumSquares(data, t0, T, cols);
      return;
    }
    const { ids, k, nExpert } = routing;
    const perSlot = kind === "ffn_down_input"; // one row per (token, slot) instead of per token
    if (!perSlot) this.sums[`blk.${layer}.${kind}@router`] = sumSquares(data, t0, T, cols);
    const acc = new Float32Array(nExpert * cols);
    const counts = new Array<number>(nExpert).fill(0);
    for (let t = t0; t < t0 + T; t++) {
      for (let s = 0; s < k; s++) {
        const e = ids[t * k + s]!;
        counts[e]!++;
        const o = (perSlot ? t * k + s : t) * cols, a = e * cols;
        for (let j = 0; j < cols; j++) {
          const x = data[o + j]!;
          acc[a + j] = acc[a + j]! + Math.fround(x * x);
        }
      }
    }
    this.sums[`blk.${layer}.${kind}@exps`] = acc;
    this.expertCounts[`blk.${layer}.${kind}@exps`] = counts;
  }
}

function sumSquares(data: Float32Array, t0: number, T: number, cols: number): Float32Array {
  const fast = sumSquaresWasm(data.subarray(t0 * cols, (t0 + T) * cols), T, cols); // the same bits, in WASM SIMD
  if (fast) return fast;
  const acc = new Float32Array(cols);
  for (let t = t0; t < t0 + T; t++) {
    const o = t * cols;
    for (let j = 0; j < cols; j++) {
      const x = data[o + j]!;
      acc[j] = acc[j]! + Math.fround(x * x);
    }
  }
  return acc;
}

/**
 * Σ NLL over the second half of chunk i (llama-imatrix's running perplexity)
 * from its logits (row t − row0 holds position t; row0 = 0: all T rows): each scored row's log-softmax at the target with
 * the same float64 operations as ops.logSoftmax, without materialising T × V
 * float64 values (622 MB for a 151,936-token vocabulary at -c 512).
 */
export function nllOf(logits: Float32Array, T: number, V: number, tokens: Int32Array, c: Chunking, i: number, row0 = 0): { nll: number; scored: number } {
  let nll = 0, scored = 0;
  for (let t = T >> 1; t < T - 1; t++) {
    const o = (t - row0) * V;
    let max = -Infinity;
    for (let k = 0; k < V; k++) if (logits[o + k]! > max) max = logits[o + k]!;
    let sum = 0;
    for (let k = 0; k < V; k++) sum += Math.exp(logits[o + k]! - max);
    const lse = max + Math.log(sum);
    nll -= logits[o + tokens[i * c.nCtx + t + 1]!]! - lse;
    scored++;
  }
  return { nll, scored };
}

export function imatrixChunk(model: ForwardModel, tokens: Int32Array, c: Chunking, i: number, bos: number | undefined): ImatrixChunk {
  const input = chunkInput(tokens, c, i, bos);
  const T = input.length;
  const cap = new ImatrixCapture(T);
  const h = embed(model, input);
  const capture = cap.add.bind(cap);
  for (let l = 0; l < model.config.nLayer; l++) runLayer(model, h, T, T, l, { capture });
  const V = model.config.vocab, E = model.config.nEmbd;
  const { from, rows } = scoredRows(T); // the running perplexity needs only these positions' logits
  const { nll, scored } = nllOf(headLogits(model, h.subarray(from * E, (from + rows) * E), rows), T, V, tokens, c, i, from);
  return { sums: cap.sums, expertCounts: cap.expertCounts, tokens: T, nll, scored };
}

export interface ImatrixStats {
  /** Weight name -> per-column Σ x² (f32). */
  readonly sums: Map<string, Float32Array>;
  /** Weight name -> tokens accumulated (one per expert for expert matrices). */
  readonly counts: Map<string, number[]>;
  readonly chunks: number;
  readonly chunkSize: number;
  /** llama-imatrix's running perplexity over the second half of each chunk (its log prints it). */
  readonly ppl: number;
}

/** Adds chunks in order. */
export class ImatrixAccumulator {
  private readonly byInput = new Map<string, Float32Array>();
  private readonly expertCounts = new Map<string, number[]>();
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
    for (const [key, n] of Object.entries(ch.expertCounts ?? {})) {
      const acc = this.expertCounts.get(key);
      if (!acc) this.expertCounts.set(key, n.slice());
      else n.forEach((v, e) => { acc[e] = acc[e]! + v; });
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
    const sums = new Map<string, Float32Array>(), counts = new Map<string, number[]>();
    for (const [key, s] of this.byInput) {
      const [, layer, kind] = /^blk\.(\d+)\.(.+)$/.exec(key)!;
      for (const w of CONSUMERS[kind]!) {
        const name = `blk.${layer}.${w}.weight`;
        sums.set(name, s.slice());
        counts.set(name, this.expertCounts.get(key)?.slice() ?? [this.tokens]);
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
