// quantscope eval: perplexity of a model on text, and against a base model
// (or the same model with some tensors replaced) the KL statistics
// llama-perplexity prints, chunked the way it chunks (score the second half
// of each context). Chunks are independent, so each is computed on its own
// (in this thread or a worker) and the results are summed in chunk order:
// the figures do not depend on the number of threads.
import type { ForwardModel } from "../forward/model.js";
import { forwardHidden, headLogits } from "../forward/run.js";
import { chunkInput, scoredRows, type Chunking } from "./chunks.js";
import {
  compressLogProbs, KlAccumulator, klReport, positionKl, positionNll, PplAccumulator,
  type KlReport, type PositionKl, type ValueWithError,
} from "./perplexity.js";

export interface EvalSide {
  readonly model: ForwardModel;
  /** Tensors replaced (e.g. quantized-dequantized copies) for this side. */
  readonly overrides?: ReadonlyMap<string, Float32Array>;
}

export interface EvalOptions {
  readonly bos?: number;
  /** Compare with this side (its log-probabilities are the reference). */
  readonly base?: EvalSide;
  readonly onChunk?: (done: number, total: number, runningPpl: number) => void;
}

export interface EvalResult {
  readonly chunks: number;
  readonly chunkSize: number;
  readonly scoredTokens: number;
  /** Perplexity of the evaluated side ("Final estimate"). */
  readonly ppl: ValueWithError;
  /** With a base: llama-perplexity's KL statistics block. */
  readonly kl?: KlReport;
  readonly seconds: number;
  readonly threads: number;
}

/** Scored positions of one chunk: NLL only, or the KL-mode values. */
export type ChunkScores = { readonly nll: number[] } | { readonly kl: PositionKl[] };

export function scoreChunk(side: EvalSide, base: EvalSide | undefined, tokens: Int32Array, c: Chunking, i: number, bos: number | undefined): ChunkScores {
  const input = chunkInput(tokens, c, i, bos);
  const T = input.length;
  const { from, rows } = scoredRows(T);
  // only the scored positions' logits are needed: their rows of the last layer and of the head
  const logitsOf = (s: EvalSide) => {
    const h = forwardHidden(s.model, input, T, { overrides: s.overrides, keepFrom: from });
    return headLogits(s.model, h.subarray(from * s.model.config.nEmbd, (from + rows) * s.model.config.nEmbd), rows, { overrides: s.overrides });
  };
  const baseLogits = base ? logitsOf(base) : undefined;
  return scoreLogits(logitsOf(side), baseLogits, side.model.config.vocab, T, tokens, c, i, from);
}

/** Scores of chunk i from its logits and, with a base, the base's logits (row t − row0 holds position t; row0 = 0: all T rows). */
export function scoreLogits(logits: Float32Array, baseLogits: Float32Array | undefined, V: number, T: number, tokens: Int32Array, c: Chunking, i: number, row0 = 0): ChunkScores {
  const target = (t: number) => tokens[i * c.nCtx + t + 1]!;
  const first = c.nCtx >> 1;
  if (!baseLogits) {
    const nll: number[] = [];
    for (let t = first; t < T - 1; t++) nll.push(positionNll(logits, (t - row0) * V, V, target(t)));
    return { nll };
  }
  const kl: PositionKl[] = [];
  for (let t = first; t < T - 1; t++) kl.push(positionKl(logits, (t - row0) * V, V, target(t), compressLogProbs(baseLogits, (t - row0) * V, V)));
  return { kl };
}

/** Sums chunk scores in chunk order into the final figures. */
export class EvalAccumulator {
  private readonly ppl = new PplAccumulator();
  private readonly kl = new KlAccumulator();
  private withBase = false;
  add(s: ChunkScores): void {
    if ("nll" in s) for (const v of s.nll) this.ppl.push(v);
    else {
      this.withBase = true;
      for (const p of s.kl) {
        this.ppl.push(p.nll);
        this.kl.push(p);
      }
    }
  }
  runningPpl(): number {
    return this.ppl.estimate().value;
  }
  result(c: Chunking, seconds: number, threads: number): EvalResult {
    return {
      chunks: c.count,
      chunkSize: c.nCtx,
      scoredTokens: this.ppl.count,
      ppl: this.ppl.estimate(),
      kl: this.withBase && this.kl.count >= 100 ? klReport(this.kl) : undefined,
      seconds,
      threads,
    };
  }
}

/** Single-thread evaluation. */
export function evaluate(side: EvalSide, tokens: Int32Array, c: Chunking, opts: EvalOptions = {}): EvalResult {
  const t0 = performance.now();
  if (opts.base && opts.base.model.config.vocab !== side.model.config.vocab) {
    throw new Error(`internal error: base vocabulary ${opts.base.model.config.vocab} differs from ${side.model.config.vocab}`);
  }
  const acc = new EvalAccumulator();
  for (let i = 0; i < c.count; i++) {
    acc.add(scoreChunk(side, opts.base, tokens, c, i, opts.bos));
    opts.onChunk?.(i + 1, c.count, acc.runningPpl());
  }
  return acc.result(c, (performance.now() - t0) / 1000, 1);
}
