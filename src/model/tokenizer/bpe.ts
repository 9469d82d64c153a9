// GPT-2-style byte-level BPE as llama.cpp's "gpt2" vocabularies do it: the
// text is split into words by the pre-tokenizer regexes of the model family
// (tokenizer.ggml.pre), each word's bytes are mapped to GPT-2's printable
// byte alphabet, and adjacent symbols are merged lowest merge rank first.
import { QuantscopeError } from "../../io/errors.js";
import { fromByteString, toByteString, type Vocab } from "./vocab.js";
import { utf8Len } from "./spm.js";

// Pre-tokenizer patterns (JS syntax, Unicode mode) per llama.cpp pre-type.
// They are the Hugging Face tokenizer.json patterns with (?i:…) spelled out,
// as llama.cpp adapts them.
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const DEFAULT = ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"];

const PRE_PATTERNS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ...["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"].map((n) => [n, [LLAMA3]] as const),
  ...["qwen2", "deepseek-r1-qwen"].map((n) => [n, [QWEN2]] as const),
  ...["gpt-2", "gpt2", "mpt", "olmo"].map((n) => [n, [GPT2]] as const),
  ["default", DEFAULT],
]);

/** The byte-string word splitter for a pre-tokenizer name; a clear error for families not implemented. */
export function bpeSplitter(pre: string): (text: string) => string[] {
  const patterns = PRE_PATTERNS.get(pre);
  if (!patterns) {
    throw new QuantscopeError(
      `BPE pre-tokenizer "${pre}" (tokenizer.ggml.pre) is not supported yet (supported: ${[...PRE_PATTERNS.keys()].join(", ")}); pass token ids as a .i32 file instead`,
    );
  }
  const regexes = patterns.map((p) => new RegExp(p, "gu"));
  return (bytes: string) => {
    let pieces = [fromByteString(bytes)];
    for (const re of regexes) {
      const next: string[] = [];
      for (const piece of pieces) {
        let last = 0;
        for (const m of piece.matchAll(re)) {
          if (m[0].length === 0) continue;
          if (m.index! > last) next.push(piece.slice(last, m.index));
          next.push(m[0]);
          last = m.index! + m[0].length;
        }
        if (last < piece.length) next.push(piece.slice(last));
      }
      pieces = next;
    }
    return pieces.map(toByteString);
  };
}

/** GPT-2's byte -> printable character table, as UTF-8 byte strings. */
const BYTE_CHARS: readonly string[] = (() => {
  const printable = new Set<number>();
  for (let b = 0x21; b <= 0x7e; b++) printable.add(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.add(b);
  for (let b = 0xae; b <= 0xff; b++) printable.add(b);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(toByteString(String.fromCodePoint(printable.has(b) ? b : 256 + extra++)));
  return out;
})();

interface Bigram {
  left: number;
  right: number;
  text: string;
  rank: number;
}

function before(a: Bigram, b: Bigram): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.left < b.left);
}

/** Min-heap by merge rank, then leftmost. */
function heapPush(h: Bigram[], b: Bigram): void {
  h.push(b);
  for (let i = h.length - 1; i > 0; ) {
    const p = (i - 1) >> 1;
    if (!before(h[i]!, h[p]!)) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

function heapPop(h: Bigram[]): Bigram {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length) {
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  return top;
}

/** BPE over pre-split byte-string words; appends ids to `out`. */
export function bpeTokenize(vocab: Vocab, words: readonly string[], out: number[]): void {
  const ignoreMerges = ["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"].includes(vocab.pre);
  for (const raw of words) {
    let word = "";
    for (let i = 0; i < raw.length; i++) word += BYTE_CHARS[raw.charCodeAt(i)]!;
    if (ignoreMerges) {
      const whole = vocab.byText.get(word);
      if (whole !== undefined) {
        out.push(whole);
        continue;
      }
    }
    const start: number[] = [], len: number[] = [], prev: number[] = [], next: number[] = [];
    for (let offs = 0; offs < word.length; ) {
      const n = Math.min(utf8Len(word.charCodeAt(offs)), word.length - offs);
      const i = start.length;
      start.push(offs);
      len.push(n);
      prev.push(i - 1);
      offs += n;
      next.push(offs === word.length ? -1 : i + 1);
    }
    const heap: Bigram[] = [];
    const add = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const l = word.substr(start[left]!, len[left]!), r = word.substr(start[right]!, len[right]!);
      const rank = vocab.mergeRank.get(l + " " + r);
      if (rank === undefined) return;
      heapPush(heap, { left, right, text: l + r, rank });
    };
    for (let i = 1; i < start.length; i++) add(i - 1, i);
    while (heap.length) {
      const b = heapPop(heap);
      const nl = len[b.left]!, nr = len[b.right]!;
      if (nl === 0 || nr === 0) continue;
      if (word.substr(start[b.left]!, nl) + word.substr(start[b.right]!, nr) !== b.text) continue; // outdated
      len[b.left] = nl + nr;
      len[b.right] = 0;
      next[b.left] = next[b.right]!;
      if (next[b.right]! >= 0) prev[next[b.right]!] = b.left;
      add(prev[b.left]!, b.left);
      add(b.left, next[b.left]!);
    }
    for (let i = 0; i < start.length; i++) {
      if (len[i] === 0) continue;
      const piece = word.substr(start[i]!, len[i]!);
      const id = vocab.byText.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // no token: llama.cpp tries each byte of the piece on its own, dropping misses
      for (let j = 0; j < piece.length; j++) {
        const b = vocab.byText.get(piece[j]!);
        if (b !== undefined) out.push(b);
      }
    }
  }
}
