// Text -> token ids with llama.cpp's rules (llama_tokenize / llama-tokenize):
// special tokens are cut out of the text first (user-defined ones always,
// control ones only with parseSpecial), BOS/EOS are added per the vocabulary's
// add_bos/add_eos when addSpecial, and each remaining text fragment goes to the
// vocabulary's tokenizer (SentencePiece "llama" or BPE "gpt2").
import { QuantscopeError } from "../../io/errors.js";
import { bpeTokenize, bpeSplitter } from "./bpe.js";
import { spmTokenize } from "./spm.js";
import { ATTR_CONTROL, ATTR_UNKNOWN, ATTR_USER_DEFINED, toByteString, type Vocab } from "./vocab.js";

export interface TokenizeOptions {
  /** Add BOS/EOS as the vocabulary asks (llama-tokenize's default; llama_tokenize's add_special). */
  addSpecial?: boolean;
  /** Recognise control tokens such as <s> or <|im_start|> written in the text. */
  parseSpecial?: boolean;
}

type Fragment = { text: string } | { token: number };

export class Tokenizer {
  readonly vocab: Vocab;
  /** Special tokens in the order llama.cpp matches them: longest text first. */
  private readonly specials: number[];
  private readonly split?: (text: string) => string[];

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    const ids: number[] = [];
    vocab.attrs.forEach((a, id) => {
      if (a & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) ids.push(id);
    });
    this.specials = ids.sort((a, b) => vocab.texts[b]!.length - vocab.texts[a]!.length || a - b);
    if (vocab.model === "gpt2") this.split = bpeSplitter(vocab.pre);
  }

  /** Token ids of UTF-8 `text`. */
  encode(text: string, opts: TokenizeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const fragments = this.partition(toByteString(text), opts.parseSpecial ?? false);
    const v = this.vocab;
    const out: number[] = [];
    if (addSpecial && v.addBos) {
      if (v.bos === undefined) throw new QuantscopeError("the vocabulary asks for a BOS token but defines none");
      out.push(v.bos);
    }
    if (v.model === "llama") {
      let prevSpecial = true; // the first fragment gets the space prefix
      for (const f of fragments) {
        if ("token" in f) {
          out.push(f.token);
          prevSpecial = true;
          continue;
        }
        const t = (v.addSpacePrefix && prevSpecial ? " " : "") + f.text;
        spmTokenize(v, t.replaceAll(" ", "\u00e2\u0096\u0081"), out); // U+2581 as UTF-8 bytes
        prevSpecial = false;
      }
    } else {
      for (const f of fragments) {
        if ("token" in f) out.push(f.token);
        else bpeTokenize(v, this.split!(f.text), out);
      }
    }
    if (addSpecial && v.addEos) {
      if (v.eos === undefined) throw new QuantscopeError("the vocabulary asks for an EOS token but defines none");
      out.push(v.eos);
    }
    return out;
  }

  /** Cuts special tokens out of the byte-string text, like llama.cpp's tokenizer_st_partition. */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = text.length ? [{ text }] : [];
    for (const id of this.specials) {
      const attr = this.vocab.attrs[id]!;
      if (!parseSpecial && attr & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
      const needle = this.vocab.texts[id]!;
      if (needle.length === 0) continue;
      const next: Fragment[] = [];
      for (const f of frags) {
        if ("token" in f) {
          next.push(f);
          continue;
        }
        let from = 0;
        for (;;) {
          const at = f.text.indexOf(needle, from);
          if (at < 0) break;
          if (at > from) next.push({ text: f.text.slice(from, at) });
          next.push({ token: id });
          from = at + needle.length;
        }
        if (from < f.text.length) next.push({ text: f.text.slice(from) });
      }
      frags = next;
    }
    return frags;
  }
}
