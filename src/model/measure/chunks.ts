// How llama-perplexity and llama-imatrix cut a token stream: whole n_ctx
// chunks only (the tail is dropped), each evaluated from position 0 with the
// KV cache cleared, its first token replaced by BOS when the vocabulary adds
// one. Scoring (perplexity) uses the second half of each chunk.
import { QuantscopeError } from "../../io/errors.js";

export interface Chunking {
  /** Tokens per chunk (-c). */
  readonly nCtx: number;
  /** Number of chunks used. */
  readonly count: number;
  /** Chunks the text had room for. */
  readonly available: number;
}

export function chunking(nTokens: number, nCtx: number, maxChunks?: number, minChunks = 1): Chunking {
  if (!Number.isInteger(nCtx) || nCtx < 8) throw new QuantscopeError(`-c must be an integer of at least 8, got ${nCtx}`);
  const available = Math.floor(nTokens / nCtx);
  if (available < minChunks) {
    throw new QuantscopeError(`the text has ${nTokens} tokens: too few for ${minChunks} chunk${minChunks > 1 ? "s" : ""} of ${nCtx} (use a longer text or a smaller -c)`);
  }
  const count = maxChunks === undefined || maxChunks <= 0 ? available : Math.min(available, maxChunks);
  return { nCtx, count, available };
}

/** The model input of chunk i: its tokens with the first replaced by BOS (when given). */
export function chunkInput(tokens: Int32Array, c: Chunking, i: number, bos: number | undefined): Int32Array {
  const input = tokens.slice(i * c.nCtx, (i + 1) * c.nCtx);
  if (bos !== undefined) input[0] = bos;
  return input;
}

/** The positions llama-perplexity (and llama-imatrix's running perplexity) score in a T-token chunk: [from, from + rows), the second half but the last (its next token is not in the chunk). */
export function scoredRows(T: number): { from: number; rows: number } {
  const from = T >> 1;
  return { from, rows: T - 1 - from };
}
