// `quantscope imatrix` and `quantscope eval` against llama.cpp's own figures:
// - imatrix on stories260K's calibration text (the whole text, llama-imatrix's
//   chunking) against ../shared/fixtures/imatrix/imatrix.gguf made by llama-imatrix
//   with the same text and context: per-entry median relative difference, cosine, counts, metadata;
// - eval's perplexity against the running perplexity llama-imatrix printed after N chunks
//   (it scores the second half of each chunk, like llama-perplexity).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readImatrix } from "../src/io/imatrix.js";
import { GgufSource } from "../src/io/gguf.js";
import { compressLogProbs, KlAccumulator, klReport } from "../src/model/measure/perplexity.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => execFileSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8" });

test("imatrix: stories260K over its calibration text matches llama-imatrix's file", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-imatrix-"));
  const out = join(dir, "imatrix.gguf");
  const text = run("imatrix", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "-c", "128", "-o", out, "--no-progress", "-j", "2");
  // llama-imatrix_run.log ends with "[116]4.2850"
  const ppl = Number(/PPL ([0-9.]+)/.exec(text)![1]);
  assert.ok(Math.abs(ppl / 4.285 - 1) < 5e-4, `PPL ${ppl}`);
  const ours = readImatrix(out), ref = readImatrix(fx("imatrix/imatrix.gguf"));
  assert.equal(ours.entries.size, ref.entries.size);
  assert.equal(ours.chunkCount, 116);
  assert.equal(ours.chunkSize, 128);
  // one thread gives the same bytes (chunk sums are added in chunk order)
  const one = join(dir, "one.gguf");
  run("imatrix", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "-c", "128", "-o", one, "--no-progress", "-j", "1");
  assert.ok(readFileSync(one).equals(readFileSync(out)), "-j 1 and -j 2 files differ");
  const meta = new GgufSource(out).metadata;
  assert.equal(meta.get("general.type"), "imatrix");
  assert.deepEqual(meta.get("imatrix.datasets"), ["calibration.txt"]);
  for (const [name, r] of ref.entries) {
    const e = ours.entries.get(name);
    assert.ok(e, `missing ${name}`);
    assert.equal(e.count, r.count, `${name} counts`);
    let dot = 0, a2 = 0, b2 = 0;
    const rel: number[] = [];
    for (let j = 0; j < r.values.length; j++) {
      dot += e.values[j]! * r.values[j]!;
      a2 += e.values[j]! ** 2;
      b2 += r.values[j]! ** 2;
      rel.push(Math.abs(e.values[j]! / r.values[j]! - 1));
    }
    rel.sort((a, b) => a - b);
    assert.ok(rel[rel.length >> 1]! <= 0.01, `${name}: median relative difference ${rel[rel.length >> 1]}`);
    assert.ok(dot / Math.sqrt(a2 * b2) >= 0.9999, `${name}: cosine ${dot / Math.sqrt(a2 * b2)}`);
  }
});

test("eval: perplexity of tinyqwen-f16 over 8 chunks of 256 equals llama.cpp's running figure", () => {
  const text = run("eval", fx("models/tinyqwen-f16.gguf"), "-f", fx("tinyqwen/calibration.txt"), "-c", "256", "--chunks", "8", "--no-progress");
  // tinyqwen/llama-imatrix_run.log: "[8]2.7465"
  const ppl = Number(/PPL = ([0-9.]+)/.exec(text)![1]);
  assert.ok(Math.abs(ppl / 2.7465 - 1) < 5e-4, `PPL ${ppl}`);
  assert.match(text, /8 chunks of 256 tokens, second half of each scored \(1016 tokens\)/);
});

test("eval: KL of a model against itself is zero; against a quantized copy it is positive", () => {
  const self = JSON.parse(run("eval", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "-c", "128", "--chunks", "4", "--base", fx("models/stories260K.gguf"), "--json", "--no-progress"));
  assert.ok(Math.abs(self.kl.kld.value) < 1e-4, `self KL ${self.kl.kld.value}`); // uint16 base levels leave ~1e-5
  assert.equal(self.kl.sameTop.value, 1);
  const q0 = (j: string) => {
    const r = JSON.parse(run("eval", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "-c", "128", "--chunks", "4", "--base", fx("models/stories260K-Q4_0.gguf"), "--json", "--no-progress", "-j", j));
    delete r.seconds;
    delete r.threads;
    return r;
  };
  assert.deepEqual(q0("1"), q0("2"), "figures depend on the number of threads");
  const dir = mkdtempSync(join(tmpdir(), "qs-eval-"));
  const tt = join(dir, "types.txt");
  writeFileSync(tt, "attn_q=q4_0 ffn_up=Q4_K\n");
  const q = JSON.parse(run("eval", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "-c", "128", "--chunks", "4", "--tensor-types", tt, "--json", "--no-progress"));
  assert.ok(q.kl.kld.value > 1e-4, `quantized KL ${q.kl.kld.value}`);
  // rows are 64 wide: Q4_K (256-blocks) falls back to Q5_0 as in llama-quantize
  const types = new Map(q.simulated.map((s: { tensor: string; type: string }) => [s.tensor, s.type]));
  assert.equal(types.get("blk.0.attn_q.weight"), "Q4_0");
  assert.equal(types.get("blk.0.ffn_up.weight"), "Q5_0");
  assert.equal(types.get("blk.0.ffn_down.weight"), "F32");
});

test("eval/imatrix: bad input is one line naming the problem", () => {
  const bad = (args: string[], re: RegExp) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  };
  const dir = mkdtempSync(join(tmpdir(), "qs-bad-"));
  const invalid = join(dir, "bad.txt");
  writeFileSync(invalid, Buffer.from([0x61, 0x62, 0xff, 0x63]));
  bad(["eval", fx("models/stories260K.gguf"), "-f", invalid], /bad\.txt: at byte 2: is not valid UTF-8/);
  const short = join(dir, "short.txt");
  writeFileSync(short, "Once upon a time");
  bad(["eval", fx("models/stories260K.gguf"), "-f", short, "-c", "128"], /too few for 1 chunk of 128/);
  bad(["imatrix", fx("models/stories260K.gguf"), "-f", join(dir, "missing.txt")], /missing\.txt: no such file/);
  const tt = join(dir, "tt.txt");
  writeFileSync(tt, "attn_q=q9_9\n");
  bad(["eval", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "--tensor-types", tt], /"q9_9" is not a ggml type name/);
  writeFileSync(tt, "ffn_down=q4_0\n"); // 172-wide rows: no fallback for Q4_0, llama-quantize fails too
  bad(["eval", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "--tensor-types", tt], /blk\.0\.ffn_down\.weight \(rule ffn_down=Q4_0\): no tensor type fallback/);
});

test("KL statistics: llama-perplexity's formulas on a hand-made case", () => {
  // two-token vocabulary, logits equal for base and model: KL 0, Δp 0, same top
  const acc = new KlAccumulator();
  const logits = new Float32Array([1, 0]);
  for (let i = 0; i < 200; i++) acc.add(logits, 0, 2, 0, compressLogProbs(logits, 0, 2));
  const r = klReport(acc);
  assert.ok(Math.abs(r.kld.value) < 1e-6);
  assert.equal(r.sameTop.value, 1);
  // p(token 0) = e/(1+e) = 0.7310586: PPL = 1/p
  assert.ok(Math.abs(r.ppl.value - (1 + Math.E) / Math.E) < 1e-5);
});

test("sweep --measure-kl takes text: same measured KL as llama.cpp's recorded token ids of that text", () => {
  // tokens_ctx128.i32 is llama.cpp's tokenization of calibration.txt with BOS at every 128-token chunk start
  const args = ["sweep", fx("models/stories260K.gguf"), "--types", "Q4_0", "--tensors", "^blk\\.1\\.attn_v", "--chunk", "128", "--kl-tokens", "512", "--json", "--no-progress"];
  const fromText = JSON.parse(run(...args, "--measure-kl", fx("models/calibration.txt")));
  const fromIds = JSON.parse(run(...args, "--measure-kl", fx("activations/tokens_ctx128.i32")));
  const kl = (r: { records: { measuredKl?: number }[] }) => r.records.map((x) => x.measuredKl);
  assert.ok(kl(fromText)[0]! > 0);
  assert.deepEqual(kl(fromText), kl(fromIds));
});
