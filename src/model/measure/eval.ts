// quantscope eval: perplexity of a model on text, and against a base model
// (or the same model with some tensors replaced) the KL statistics
// llama-perplexity prints, chunked the way it chunks (score the second half
// of each context).
import type { ForwardModel } from "../../analysis/forward/model.js";
import { forward } from "../../analysis/forward/run.js";
import { chunkInput, type Chunking } from "./chunks.js";
import { compressLogProbs, KlAccumulator, klReport, PplAccumulator, type KlReport, type ValueWithError } from "./perplexity.js";

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
}

export function evaluate(side: EvalSide, tokens: Int32Array, c: Chunking, opts: EvalOptions = {}): EvalResult {
  const t0 = performance.now();
  const V = side.model.config.vocab;
  if (opts.base && opts.base.model.config.vocab !== V) {
    throw new Error(`internal error: base vocabulary ${opts.base.model.config.vocab} differs from ${V}`);
  }
  const ppl = new PplAccumulator();
  const kl = opts.base ? new KlAccumulator() : undefined;
  const first = c.nCtx >> 1;
  for (let i = 0; i < c.count; i++) {
    const input = chunkInput(tokens, c, i, opts.bos);
    const T = input.length;
    const base = opts.base ? forward(opts.base.model, input, T, { overrides: opts.base.overrides }) : undefined;
    const logits = forward(side.model, input, T, { overrides: side.overrides });
    for (let t = first; t < T - 1; t++) {
      const tok = tokens[i * c.nCtx + t + 1]!;
      ppl.add(logits, t * V, V, tok);
      if (kl) kl.add(logits, t * V, V, tok, compressLogProbs(base!, t * V, V));
    }
    opts.onChunk?.(i + 1, c.count, ppl.estimate().value);
  }
  return {
    chunks: c.count,
    chunkSize: c.nCtx,
    scoredTokens: ppl.count,
    ppl: ppl.estimate(),
    kl: kl && kl.count >= 100 ? klReport(kl) : undefined,
    seconds: (performance.now() - t0) / 1000,
  };
}
