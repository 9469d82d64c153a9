// Tokens for measured KL (sweep/plan --measure-kl): a raw .i32 token file as
// before, or a text file tokenized with the model's own tokenizer and laid out
// the way llama-perplexity/llama-imatrix feed it (the first token of every
// chunk replaced by BOS when the vocabulary adds one).
import { readTokenWindow, type TokenWindow } from "../forward/tokens.js";
import { fileError } from "../../io/errors.js";
import { readTextFile, tokenizerForModel } from "../tokenizer/index.js";

export function measurementTokens(path: string, model: string, vocab: number, w: TokenWindow, chunk: number): Int32Array {
  if (path.toLowerCase().endsWith(".i32")) return readTokenWindow(path, vocab, w);
  const tok = tokenizerForModel(model);
  const all = tok.encode(readTextFile(path));
  if (w.exact && all.length < w.start + w.count) {
    throw fileError(path, `tokenizes to ${all.length} tokens, too few for the window ${w.start}:${w.count}`);
  }
  const ids = Int32Array.from(all.slice(w.start, w.start + w.count));
  const bos = tok.vocab.addBos ? tok.vocab.bos : undefined;
  if (bos !== undefined) for (let i = 0; i < ids.length; i += chunk) ids[i] = bos;
  return ids;
}
