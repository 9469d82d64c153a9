// quantscope quantize / dequantize / types: golden round trip through files,
// and the one-line errors for bad input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { registerQuantize } from "../src/cli/commands/quantize.js";
import { goldenPath } from "./golden.js";

const dir = mkdtempSync(join(tmpdir(), "qs-cli-"));
const X = goldenPath("inputs/x_student_t3_8x512.f32");
const IM = goldenPath("inputs/imatrix_synthetic_512.f32");

async function run(...args: string[]): Promise<void> {
  const p = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerQuantize(p);
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    await p.parseAsync(["node", "quantscope", ...args]);
  } finally {
    process.stdout.write = orig;
  }
}

test("cli quantize + dequantize reproduce the golden files (IQ4_XS with imatrix)", async () => {
  const q = join(dir, "q.bin");
  const y = join(dir, "y.f32");
  await run("quantize", "--type", "iq4_xs", "--rows", "8", "--cols", "512", "--in", X, "--imatrix", IM, "--out", q, "--threads", "2");
  assert.ok(readFileSync(q).equals(readFileSync(goldenPath("quantized/IQ4_XS__student_t3__imatrix_synthetic.bin"))));
  await run("dequantize", "--type", "IQ4_XS", "--rows", "8", "--cols", "512", "--in", q, "--out", y);
  assert.ok(readFileSync(y).equals(readFileSync(goldenPath("dequantized/IQ4_XS__student_t3__imatrix_synthetic.f32"))));
});

test("cli errors: size mismatch, block size, imatrix length, unsupported and unknown types", async () => {
  const out = join(dir, "e.bin");
  const base = ["--in", X, "--out", out];
  await assert.rejects(run("quantize", "--type", "Q8_0", "--rows", "9", "--cols", "512", ...base), /16384 bytes, but 9x512 float32 needs 18432 bytes/);
  await assert.rejects(run("quantize", "--type", "Q4_K", "--rows", "32", "--cols", "128", ...base), /row length 128 is not a multiple of the block size 256/);
  await assert.rejects(run("quantize", "--type", "Q4_0", "--rows", "8", "--cols", "512", "--imatrix", X, ...base), /but an imatrix of 512 columns needs 2048 bytes/);
  await assert.rejects(run("quantize", "--type", "Q8_K", "--rows", "8", "--cols", "512", ...base), /type Q8_K is not supported/);
  await assert.rejects(run("quantize", "--type", "Q3_0", "--rows", "8", "--cols", "512", ...base), /unknown type "Q3_0"/);
  await assert.rejects(run("quantize", "--type", "Q4_0", "--rows", "-8", "--cols", "512", ...base), /--rows must be a positive integer/);
  const bad = join(dir, "nan.f32");
  const v = new Float32Array(8 * 512);
  v[3 * 512 + 17] = Infinity;
  writeFileSync(bad, v);
  await assert.rejects(run("quantize", "--type", "Q4_1", "--rows", "8", "--cols", "512", "--in", bad, "--out", out), /\+Inf at row 3, column 17/);
});

test("cli: a bad flag is one line on stderr and exit code 2 (no stack trace)", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "dequantize", "--type", "Q4_0", "--rows", "8", "--cols", "512", "--in", X, "--out", join(dir, "z")], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /16384 bytes, but 8x512 of Q4_0 needs 2304 bytes/);
});

test("cli types lists every supported type with block, bytes, bpw and imatrix use", () => {
  const t = execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "types"], { encoding: "utf8" });
  assert.match(t, /^Q4_0\s+2\s+32\s+18\s+4\.5\s+optional$/m);
  assert.match(t, /^IQ4_XS\s+23\s+256\s+136\s+4\.25\s+optional$/m);
  assert.match(t, /^TQ1_0\s+34\s+256\s+54\s+1\.6875\s+ignored$/m);
});
