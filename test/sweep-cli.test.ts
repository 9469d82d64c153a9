// The sweep and plan commands end to end: JSON records, one-line errors with
// exit code 2 for bad input, and the emitted tensor-type file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });

test("sweep --json: one record per (tensor, type) with every metric", () => {
  const r = run("sweep", fx("models/stories260K.gguf"), "--types", "Q4_K,Q6_K", "--imatrix", fx("imatrix/imatrix.gguf"), "--json");
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.records.length, 37 * 2);
  for (const k of ["tensor", "type", "bpw", "bytes", "rmse", "relRmse", "maxAbsErr", "medianAbsErr", "p95AbsErr", "imatrixMse", "outputRelErr", "sensitivity"]) {
    assert.ok(k in res.records[0], k);
  }
  assert.equal(r.stderr, ""); // no progress bar when stderr is not a terminal
});

test("bad input: one line on stderr, exit code 2", () => {
  for (const args of [
    ["sweep", fx("models/stories260K.gguf"), "--types", "Q9_X"],
    ["sweep", fx("models/stories260K.gguf"), "--sample", "1.5"],
    ["sweep", fx("models/nope.gguf")],
    ["plan", fx("models/stories260K.gguf")],
    ["plan", fx("models/stories260K.gguf"), "--target-bpw", "1"],
    ["plan", fx("models/stories260K.gguf"), "--target-size", "Q9_K_Z"],
  ]) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^quantscope: /);
  }
});

test("plan --emit tensor-types writes one anchored line per tensor", () => {
  const out = join(mkdtempSync(join(tmpdir(), "qs-plan-")), "types.txt");
  const r = run("plan", fx("models/stories260K.gguf"), "--target-size", "Q4_K_M", "--emit", "tensor-types", "-o", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Q4_K_M/);
  const lines = readFileSync(out, "utf8").trim().split("\n");
  assert.equal(lines.length, 37);
  for (const l of lines) assert.match(l, /^\^[a-z0-9_\\.]+\$=(q[0-9]_[0-9k]|q[0-9]_K|f16|f32)$/i);
});

test("plan --emit names the target's ftype in the llama-quantize line it suggests (Q4_K_M for a byte or bpw target)", () => {
  const out = join(mkdtempSync(join(tmpdir(), "qs-plan-")), "types.txt");
  const q3 = run("plan", fx("models/stories260K.gguf"), "--target-size", "Q3_K_M", "--emit", "tensor-types", "-o", out);
  assert.equal(q3.status, 0, q3.stderr);
  assert.match(q3.stderr, /--tensor-type-file \S+ \S+stories260K\.gguf out\.gguf Q3_K_M\n$/);
  const bytes = run("plan", fx("models/stories260K.gguf"), "--target-size", "1m", "--emit", "tensor-types", "-o", out);
  assert.equal(bytes.status, 0, bytes.stderr);
  assert.match(bytes.stderr, /out\.gguf Q4_K_M\n$/);
});
