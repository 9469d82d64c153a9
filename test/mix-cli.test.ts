// `quantscope mix MODEL FTYPE`: checked against llama-quantize's own output
// (the mixes CSV, made with --imatrix) and for clear one-line errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });
const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

function csvRows(model: string, ftype: string): string[][] {
  return readFileSync(fx("mixes/llama_quantize_tensor_types.csv"), "utf8").split(/\r?\n/)
    .map((l) => l.split(",")).filter((r) => r[0] === model && r[1] === ftype);
}

test("mix --json on the MoE model at IQ2_XXS: llama-quantize's tensors, types, bytes and file size", () => {
  const r = run("mix", fx("moe/moe-tiny-f16.gguf"), "iq2_xxs", "--imatrix", fx("moe/moe-tiny-imatrix.gguf"), "--json");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ftype: string; tensors: { tensor: string; type: string; bytes: number }[]; totals: { tensorBytes: number; fileBytes: number }; needImatrix: string[] };
  assert.equal(j.ftype, "IQ2_XXS");
  const rows = csvRows("moe-tiny-f16.gguf", "IQ2_XXS");
  const want = new Map(rows.filter((x) => x[2] !== "(file)").map((x) => [x[2], { type: x[3], bytes: Number(x[5]) }]));
  assert.equal(j.tensors.length, want.size);
  for (const t of j.tensors) assert.deepEqual({ type: t.type, bytes: t.bytes }, want.get(t.tensor), t.tensor);
  assert.equal(j.totals.tensorBytes, [...want.values()].reduce((s, x) => s + x.bytes, 0));
  const file = Number(rows.find((x) => x[2] === "(file)")![5]);
  assert.ok(Math.abs(j.totals.fileBytes - file) <= 32, `${j.totals.fileBytes} vs ${file}`);
  assert.deepEqual(j.needImatrix, []);
});

test("mix text: table, totals with bpw; without --imatrix an IQ2_XXS mix says llama-quantize refuses it", () => {
  const r = run("mix", fx("models/tinyqwen-f16.gguf"), "IQ2_XXS");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^blk\.0\.ffn_up\.weight +256x1024 +IQ2_XXS +2\.06 +67584 +default$/m);
  assert.match(r.stdout, /^tensors: 69, \d+ weights, \d+ bytes, \d\.\d{3} bpw$/m);
  assert.match(r.stdout, /^note: llama-quantize refuses IQ2_XXS without --imatrix: \d+ tensors need one/m);
});

test("mix: unknown ftype and unreadable model are one-line errors with exit code 2", () => {
  const bad = run("mix", fx("models/tinyqwen-f16.gguf"), "Q4_K_X");
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split("\n").length, 1);
  assert.match(bad.stderr, /unknown ftype "Q4_K_X" \(valid: Q1_0, .*IQ2_XXS.*Q8_0/);
  const missing = run("mix", "/nonexistent/model.gguf", "Q4_K_M");
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^quantscope: \/nonexistent\/model\.gguf: no such file or folder\n$/);
});
