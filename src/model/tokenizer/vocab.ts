// The vocabulary a GGUF carries in its tokenizer.ggml.* keys, in the form the
// tokenizers need. Token texts are kept as "byte strings" (one JS char per
// UTF-8 byte, i.e. latin1) so that lookups work on byte ranges exactly like
// llama.cpp's std::string keys, including text that is not valid UTF-8.
import { QuantscopeError } from "../../io/errors.js";

/** llama.cpp's token attributes (llama.h LLAMA_TOKEN_ATTR_*), derived from token types. */
export const ATTR_UNKNOWN = 1 << 0;
export const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
export const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
export const ATTR_BYTE = 1 << 5;

/** GGUF token_type values (LLAMA_TOKEN_TYPE_*) -> attributes. */
function attrOfType(t: number): number {
  switch (t) {
    case 2: return ATTR_UNKNOWN;
    case 3: return ATTR_CONTROL;
    case 4: return ATTR_USER_DEFINED;
    case 5: return ATTR_UNUSED;
    case 6: return ATTR_BYTE;
    case 1: return ATTR_NORMAL;
    default: return 0; // undefined
  }
}

export type VocabModel = "llama" | "gpt2";

export interface Vocab {
  readonly model: VocabModel;
  /** tokenizer.ggml.pre for BPE vocabularies ("default" when absent). */
  readonly pre: string;
  /** Token texts as byte strings (latin1 view of their UTF-8). */
  readonly texts: readonly string[];
  readonly scores: Float32Array;
  readonly attrs: Int32Array;
  /** Byte string -> id; a later duplicate text wins, as in llama.cpp's map. */
  readonly byText: ReadonlyMap<string, number>;
  /** BPE merges "left right" (byte strings) -> rank. */
  readonly mergeRank: ReadonlyMap<string, number>;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
}

/** UTF-8 text -> byte string (one char per byte). */
export function toByteString(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** Byte string -> UTF-8 text (invalid sequences become U+FFFD). */
export function fromByteString(bytes: string): string {
  return Buffer.from(bytes, "latin1").toString("utf8");
}

function stringArray(meta: ReadonlyMap<string, unknown>, key: string, where: string): string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new QuantscopeError(`${where}: ${key} is not an array of strings`);
  return v as string[];
}

function numberArray(meta: ReadonlyMap<string, unknown>, key: string, n: number, where: string): number[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new QuantscopeError(`${where}: ${key} is not an array`);
  const a = Array.from(v as ArrayLike<number | bigint>, Number);
  if (a.length !== n) throw new QuantscopeError(`${where}: ${key} has ${a.length} entries, expected one per token (${n})`);
  return a;
}

function optionalId(meta: ReadonlyMap<string, unknown>, key: string, n: number, where: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  const id = Number(v);
  if (!Number.isInteger(id) || id < 0 || id >= n) throw new QuantscopeError(`${where}: ${key} = ${String(v)} is not a token id (0..${n - 1})`);
  return id;
}

function flag(meta: ReadonlyMap<string, unknown>, key: string, dflt: boolean): boolean {
  const v = meta.get(key);
  return typeof v === "boolean" ? v : dflt;
}

/** Reads the vocabulary from a model's metadata; `where` names the file in errors. */
export function vocabFromMetadata(meta: ReadonlyMap<string, unknown>, where: string): Vocab {
  const model = meta.get("tokenizer.ggml.model");
  if (model === undefined) throw new QuantscopeError(`${where}: no tokenizer in this model (tokenizer.ggml.model missing); pass token ids as a .i32 file instead`);
  if (model !== "llama" && model !== "gpt2") {
    throw new QuantscopeError(`${where}: tokenizer.ggml.model "${String(model)}" is not supported (supported: llama (SentencePiece), gpt2 (BPE))`);
  }
  const tokens = stringArray(meta, "tokenizer.ggml.tokens", where);
  if (!tokens || tokens.length === 0) throw new QuantscopeError(`${where}: tokenizer.ggml.tokens is missing or empty`);
  const n = tokens.length;
  const scores = Float32Array.from(numberArray(meta, "tokenizer.ggml.scores", n, where) ?? new Array<number>(n).fill(0));
  const types = numberArray(meta, "tokenizer.ggml.token_type", n, where) ?? new Array<number>(n).fill(1);
  const texts = tokens.map(toByteString);
  const byText = new Map<string, number>();
  texts.forEach((t, i) => byText.set(t, i));
  const attrs = Int32Array.from(types, attrOfType);
  const mergeRank = new Map<string, number>();
  if (model === "gpt2") {
    const merges = stringArray(meta, "tokenizer.ggml.merges", where);
    if (!merges) throw new QuantscopeError(`${where}: a gpt2 (BPE) tokenizer needs tokenizer.ggml.merges`);
    merges.forEach((m, i) => {
      const b = toByteString(m);
      const sp = b.indexOf(" ", 1);
      if (sp < 0) throw new QuantscopeError(`${where}: tokenizer.ggml.merges[${i}] "${m}" is not "left right"`);
      const key = b.slice(0, sp) + " " + b.slice(sp + 1);
      if (!mergeRank.has(key)) mergeRank.set(key, i);
    });
  }
  const isSpm = model === "llama";
  const bos = optionalId(meta, "tokenizer.ggml.bos_token_id", n, where) ?? (isSpm ? 1 : undefined);
  const eos = optionalId(meta, "tokenizer.ggml.eos_token_id", n, where) ?? (isSpm ? 2 : undefined);
  const pre = meta.get("tokenizer.ggml.pre");
  return {
    model,
    pre: typeof pre === "string" ? pre : "default",
    texts,
    scores,
    attrs,
    byText,
    mergeRank,
    bos,
    eos,
    addBos: flag(meta, "tokenizer.ggml.add_bos_token", isSpm),
    addEos: flag(meta, "tokenizer.ggml.add_eos_token", false),
    addSpacePrefix: flag(meta, "tokenizer.ggml.add_space_prefix", isSpm),
  };
}
