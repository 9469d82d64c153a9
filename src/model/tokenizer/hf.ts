// A Hugging Face tokenizer.json (what safetensors models ship) as the GGUF
// tokenizer.ggml.* metadata llama.cpp's converter would write for it, so both
// kinds of model go through the same tokenizers. Byte-level BPE only.
import { readFileSync } from "node:fs";
import { fileError } from "../../io/errors.js";

interface HfAddedToken {
  id: number;
  content: string;
  special?: boolean;
}

interface HfTokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]> };
  added_tokens?: HfAddedToken[];
  pre_tokenizer?: unknown;
}

/** Pre-tokenizer name (llama.cpp's tokenizer.ggml.pre) from the Split regex in tokenizer.json. */
function preName(preTokenizer: unknown): string {
  const s = JSON.stringify(preTokenizer ?? null);
  if (s.includes("\\\\p{N}{1,3}")) return "llama-bpe";
  if (s.includes("[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}|")) return "qwen2";
  return "gpt2";
}

/**
 * Metadata for vocabFromMetadata from tokenizer.json (+ tokenizer_config.json's
 * add_bos_token / bos_token / eos_token when given).
 */
export function metadataFromHfTokenizer(path: string, configPath?: string): Map<string, unknown> {
  let json: HfTokenizerJson;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as HfTokenizerJson;
  } catch (e) {
    throw fileError(path, `not a readable tokenizer.json (${(e as Error).message})`);
  }
  const model = json.model;
  if (model?.type !== "BPE" || !model.vocab || !model.merges) throw fileError(path, "only byte-level BPE tokenizer.json files are supported (model.type BPE with vocab and merges)", undefined, "model");
  const added = json.added_tokens ?? [];
  let n = 0;
  for (const id of Object.values(model.vocab)) n = Math.max(n, id + 1);
  for (const t of added) n = Math.max(n, t.id + 1);
  if (n > 1 << 24) throw fileError(path, `vocabulary of ${n} tokens is implausibly large`, undefined, "model.vocab");
  const tokens = new Array<string>(n);
  const types = new Array<number>(n).fill(1);
  for (const [text, id] of Object.entries(model.vocab)) tokens[id] = text;
  for (const t of added) {
    tokens[t.id] = t.content;
    types[t.id] = t.special ? 3 : 4; // control : user-defined, as llama.cpp's converter marks them
  }
  for (let i = 0; i < n; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`; // the converter pads holes the same way
      types[i] = 5;
    }
  }
  const merges = model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
  const meta = new Map<string, unknown>([
    ["tokenizer.ggml.model", "gpt2"],
    ["tokenizer.ggml.pre", preName(json.pre_tokenizer)],
    ["tokenizer.ggml.tokens", tokens],
    ["tokenizer.ggml.token_type", types],
    ["tokenizer.ggml.merges", merges],
  ]);
  if (configPath) {
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw fileError(configPath, `not a readable tokenizer_config.json (${(e as Error).message})`);
    }
    const idOf = (v: unknown): number | undefined => {
      const text = typeof v === "string" ? v : typeof v === "object" && v !== null ? (v as { content?: string }).content : undefined;
      const i = text === undefined ? -1 : tokens.indexOf(text);
      return i >= 0 ? i : undefined;
    };
    const bos = idOf(cfg["bos_token"]), eos = idOf(cfg["eos_token"]);
    if (bos !== undefined) meta.set("tokenizer.ggml.bos_token_id", bos);
    if (eos !== undefined) meta.set("tokenizer.ggml.eos_token_id", eos);
    if (typeof cfg["add_bos_token"] === "boolean") meta.set("tokenizer.ggml.add_bos_token", cfg["add_bos_token"]);
  }
  return meta;
}
