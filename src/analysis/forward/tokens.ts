// Token files for the forward pass: raw int32 little-endian ids (the
// fixtures' *.i32), validated against the vocabulary.
import { readFileSync } from "node:fs";
import { fileError } from "../../io/errors.js";

export function readTokens(path: string, vocab: number, maxTokens = Infinity): Int32Array {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw fileError(path, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `cannot read (${(e as Error).message})`);
  }
  if (buf.length === 0 || buf.length % 4 !== 0) throw fileError(path, `${buf.length} bytes is not a whole number of int32 token ids`);
  const n = Math.min(buf.length / 4, maxTokens);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const id = buf.readInt32LE(i * 4);
    if (id < 0 || id >= vocab) throw fileError(path, `token id ${id} is outside the vocabulary (0..${vocab - 1})`, i * 4, `token ${i}`);
    out[i] = id;
  }
  return out;
}
