// Token files for the forward pass: raw int32 little-endian ids (the
// fixtures' *.i32), validated against the vocabulary.
import { readFileSync } from "node:fs";
import { fileError, QuantscopeError } from "../../io/errors.js";

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

/** A token window: `N` = the first N tokens (at most), `START:COUNT` = exactly tokens START .. START+COUNT−1. */
export interface TokenWindow {
  readonly start: number;
  readonly count: number;
  /** true for START:COUNT: the file must hold the whole window. */
  readonly exact: boolean;
}

/** Parses `--kl-tokens` (`N` or `START:COUNT`); undefined gives the first `dflt` tokens. */
export function parseTokenWindow(spec: string | undefined, dflt = 512): TokenWindow {
  if (spec === undefined) return { start: 0, count: dflt, exact: false };
  const m = /^\s*(?:(\d+)\s*:\s*)?(\d+)\s*$/.exec(spec);
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !Number.isSafeInteger(count) || !Number.isSafeInteger(Number(m[1] ?? 0))) {
    throw new QuantscopeError(`--kl-tokens expects N or START:COUNT (e.g. 512 or 4096:1024), got "${spec}"`);
  }
  return { start: m[1] === undefined ? 0 : Number(m[1]), count, exact: m[1] !== undefined };
}

/** The tokens of a window of a token file (see parseTokenWindow). */
export function readTokenWindow(path: string, vocab: number, w: TokenWindow): Int32Array {
  const toks = readTokens(path, vocab, w.start + w.count).subarray(w.start);
  if (w.exact && toks.length < w.count) {
    throw fileError(path, `holds ${w.start + toks.length} tokens, too few for the window ${w.start}:${w.count} (tokens ${w.start}..${w.start + w.count - 1})`);
  }
  return toks.slice();
}
