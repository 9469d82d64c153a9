// The reference forward pass against llama.cpp: every dumped matmul input
// (exact intermediate values of llama.cpp on the same tokens) and the
// per-chunk perplexity llama-imatrix printed for the same chunks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { readF32Bin } from "../src/io/f32bin.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { embed, headLogits, runLayer, type CaptureKind } from "../src/model/forward/run.js";
import { logSoftmax, meanKl } from "../src/model/forward/ops.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

function tokens(path: string, n: number): Int32Array {
  const b = readFileSync(fx(path));
  return new Int32Array(b.buffer, b.byteOffset, b.length / 4).slice(0, n);
}

/** llama-imatrix's running perplexity: second half of each chunk, logits at i predict token i+1. */
function imatrixPpl(logits: Float32Array, toks: Int32Array, chunk: number, V: number): number {
  const lp = logSoftmax(logits, toks.length, V);
  let nll = 0, n = 0;
  for (let c = 0; c < toks.length; c += chunk) {
    for (let i = c + chunk / 2; i < c + chunk - 1; i++) { nll -= lp[i * V + toks[i + 1]!]!; n++; }
  }
  return Math.exp(nll / n);
}

/** Runs all layers, checking the captured inputs of `dumps` layers against the files. */
function runAndCompare(modelFile: string, toks: Int32Array, chunk: number, dumps: Map<number, (kind: CaptureKind) => string>, tol: number) {
  const src = openSource(fx(modelFile));
  const m = loadForwardModel(src);
  src.close();
  const h = embed(m, toks);
  let compared = 0;
  for (let l = 0; l < m.config.nLayer; l++) {
    runLayer(m, h, toks.length, chunk, l, {
      capture: (layer, kind, data, cols) => {
        const file = dumps.get(layer)?.(kind);
        if (!file) return;
        const ref = readF32Bin(fx(file), 0, toks.length);
        assert.equal(ref.cols, cols);
        let maxDiff = 0, maxAbs = 0;
        for (let i = 0; i < ref.data.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(ref.data[i]! - data[i]!));
          maxAbs = Math.max(maxAbs, Math.abs(ref.data[i]!));
        }
        assert.ok(maxDiff <= tol * maxAbs, `${modelFile} blk${layer} ${kind}: max |diff| ${maxDiff} vs max |x| ${maxAbs}`);
        compared++;
      },
    });
  }
  return { m, logits: headLogits(m, h, toks.length), compared };
}

test("stories260K: matmul inputs of blocks 0, 1, 4 match llama.cpp's dumps; perplexity matches llama-imatrix", () => {
  const toks = tokens("activations/tokens_ctx128.i32", 2048);
  const dumps = new Map([0, 1, 4].map((l) => [l, (k: CaptureKind) => `activations/act_blk${l}_${k}.f32bin`]));
  const { m, logits, compared } = runAndCompare("models/stories260K.gguf", toks, 128, dumps, 5e-3);
  assert.equal(compared, 12);
  // llama-imatrix_run.log: "[16]3.7539" after the first 16 chunks.
  const ppl = imatrixPpl(logits, toks, 128, m.config.vocab);
  assert.ok(Math.abs(ppl / 3.7539 - 1) < 2e-3, `ppl ${ppl}`);
});

test("tinyqwen (qwen3: QK-norm, NEOX RoPE, GQA 8/2): blocks 0 and 3 match the dumps; perplexity matches llama-imatrix", () => {
  const toks = tokens("tinyqwen/activation_tokens_ctx256.i32", 512);
  const dumps = new Map<number, (k: CaptureKind) => string>([
    [0, (k) => `tinyqwen/seed-blk0/data/act_blk0_${k}.f32bin`],
    [3, (k) => `tinyqwen/seed-blk3/data/act_blk0_${k}.f32bin`], // block 3 stored under block-0 names
  ]);
  const { m, logits, compared } = runAndCompare("models/tinyqwen-f16.gguf", toks, 256, dumps, 5e-3);
  assert.equal(compared, 8);
  // tinyqwen/llama-imatrix_run.log: "[2]2.9518" after two 256-token chunks of the same text.
  const ppl = imatrixPpl(logits, toks, 256, m.config.vocab);
  assert.ok(Math.abs(ppl / 2.9518 - 1) < 2e-3, `ppl ${ppl}`);
  // KL of the model against itself is zero; against a perturbed copy it is positive.
  const lp = logSoftmax(logits, toks.length, m.config.vocab);
  assert.equal(meanKl(lp, lp, toks.length, m.config.vocab), 0);
});
