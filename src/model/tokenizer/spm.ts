// SentencePiece-style tokenization as llama.cpp's "llama" vocabulary does it:
// start from UTF-8 characters, repeatedly merge the adjacent pair whose joined
// text is a token with the highest score (ties: leftmost), then emit each
// symbol as its token, or split it back along the merges that built it, or
// fall back to <0xXX> byte tokens.
import type { Vocab } from "./vocab.js";

/** Bytes of a UTF-8 sequence from its lead byte (continuation bytes count as 1, like llama.cpp). */
const UTF8_LEN = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];

export function utf8Len(leadByte: number): number {
  return UTF8_LEN[leadByte >> 4]!;
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** Max-heap by score, then by smaller left index. */
class BigramQueue {
  private readonly heap: Bigram[] = [];
  get size(): number {
    return this.heap.length;
  }
  private before(a: Bigram, b: Bigram): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(b: Bigram): void {
    const h = this.heap;
    h.push(b);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Bigram {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

const HEX = "0123456789ABCDEF";

/** llama.cpp's byte_to_token for SPM vocabularies: <0xXX>, else the byte itself as a token. */
export function spmByteToken(vocab: Vocab, byte: number): number {
  const id = vocab.byText.get(`<0x${HEX[byte >> 4]}${HEX[byte & 15]}>`) ?? vocab.byText.get(String.fromCharCode(byte));
  if (id === undefined) throw new Error(`internal error: vocabulary has no byte token for 0x${byte.toString(16)}`);
  return id;
}

/**
 * Tokenizes one fragment of byte-string text (spaces already escaped to U+2581)
 * and appends the ids to `out`.
 */
export function spmTokenize(vocab: Vocab, text: string, out: number[]): void {
  // symbols: byte offset, byte length, prev, next
  const start: number[] = [], len: number[] = [], prev: number[] = [], next: number[] = [];
  for (let offs = 0; offs < text.length; ) {
    const n = Math.min(utf8Len(text.charCodeAt(offs)), text.length - offs);
    const i = start.length;
    start.push(offs);
    len.push(n);
    prev.push(i - 1);
    offs += n;
    next.push(offs === text.length ? -1 : i + 1);
  }
  if (start.length === 0) return;
  const queue = new BigramQueue();
  const revMerge = new Map<string, [number, number]>();
  const nTokens = vocab.texts.length;
  const tryAdd = (left: number, right: number): void => {
    if (left < 0 || right < 0) return;
    const joined = text.substr(start[left]!, len[left]! + len[right]!);
    const id = vocab.byText.get(joined);
    if (id === undefined || id >= nTokens) return;
    queue.push({ left, right, score: vocab.scores[id]!, size: joined.length });
    revMerge.set(joined, [left, right]);
  };
  for (let i = 1; i < start.length; i++) tryAdd(i - 1, i);
  while (queue.size > 0) {
    const b = queue.pop();
    const nl = len[b.left]!, nr = len[b.right]!;
    if (nl === 0 || nr === 0 || nl + nr !== b.size) continue; // stale
    len[b.left] = nl + nr;
    len[b.right] = 0;
    next[b.left] = next[b.right]!;
    if (next[b.right]! >= 0) prev[next[b.right]!] = b.left;
    tryAdd(prev[b.left]!, b.left);
    tryAdd(b.left, next[b.left]!);
  }
  const resegment = (sym: number): void => {
    const piece = text.substr(start[sym]!, len[sym]!);
    const id = vocab.byText.get(piece);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    const parts = revMerge.get(piece);
    if (parts === undefined) {
      for (let j = 0; j < piece.length; j++) out.push(spmByteToken(vocab, piece.charCodeAt(j)));
      return;
    }
    resegment(parts[0]);
    resegment(parts[1]);
  };
  for (let i = 0; i !== -1; i = next[i]!) resegment(i);
}
