// Tokenizers built from a model's own tokenizer.ggml.* metadata.
export { Tokenizer, type TokenizeOptions } from "./tokenize.js";
export { vocabFromMetadata, type Vocab } from "./vocab.js";
import type { TensorSource } from "../../io/source.js";
import { Tokenizer } from "./tokenize.js";
import { vocabFromMetadata } from "./vocab.js";

/** The tokenizer of an opened model (GGUF metadata). */
export function tokenizerOf(src: TensorSource): Tokenizer {
  return new Tokenizer(vocabFromMetadata(src.metadata, src.path));
}

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileError } from "../../io/errors.js";
import { openSource } from "../../io/open.js";
import { metadataFromHfTokenizer } from "./hf.js";

/**
 * The tokenizer for a model path: the GGUF's own metadata, or for a safetensors
 * model the tokenizer.json (and tokenizer_config.json) in its folder.
 */
export function tokenizerForModel(path: string): Tokenizer {
  const src = openSource(path);
  try {
    if (src.metadata.has("tokenizer.ggml.model") || src.format === "gguf") return new Tokenizer(vocabFromMetadata(src.metadata, path));
    const dir = src.format === "study-dir" ? path : dirname(path);
    const tj = join(dir, "tokenizer.json");
    if (!existsSync(tj)) throw fileError(path, `no tokenizer: a ${src.format} model needs tokenizer.json beside it (or pass token ids as a .i32 file)`);
    const cfg = join(dir, "tokenizer_config.json");
    return new Tokenizer(vocabFromMetadata(metadataFromHfTokenizer(tj, existsSync(cfg) ? cfg : undefined), tj));
  } finally {
    src.close();
  }
}

/** A text file as a string; invalid UTF-8 is refused with the byte offset (llama.cpp would tokenize raw bytes). */
export function readTextFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw fileError(path, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `cannot read (${(e as Error).message})`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // locate the first bad byte for the message
    let i = 0;
    for (; i < bytes.length; ) {
      const b = bytes[i]!;
      const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      if (n === 0 || i + n > bytes.length) break;
      let ok = true;
      for (let k = 1; k < n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) ok = false;
      if (!ok) break;
      i += n;
    }
    throw fileError(path, "is not valid UTF-8 text", i);
  }
}
