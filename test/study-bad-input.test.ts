// Bad input to `quantscope study`: one clear line naming the file and the
// problem, exit code 2 for errors, warnings (exit 0) for data the study can
// still describe, never a stack trace.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeF32Bin } from "../src/io/f32bin.js";
import { runStudy } from "../src/analysis/study/study.js";
import { proxyQuantizer } from "../src/analysis/study/group-quantizer.js";
import { formatStudyText } from "../src/report/study-text.js";
import { formatStudySeed } from "../src/report/study-seed-text.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "qs-study-bad-"));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "study", ...args], { cwd: repo, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function header(rows: bigint, cols: bigint, payloadBytes: number): Buffer {
  const b = Buffer.alloc(16 + payloadBytes);
  b.writeBigInt64LE(rows, 0);
  b.writeBigInt64LE(cols, 8);
  return b;
}

function file(name: string, buf: Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, buf);
  return p;
}

function matrix(rows: number, cols: number, f: (r: number, c: number) => number) {
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = f(r, c);
  return { rows, cols, data };
}

const noise = (r: number, c: number) => Math.sin(r * 12.9898 + c * 78.233) * 0.05;

function assertOneLineError(res: { code: number | null; err: string }, file: string, problem: RegExp): void {
  assert.equal(res.code, 2, res.err);
  const lines = res.err.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${res.err}`);
  assert.ok(lines[0]!.includes(file), `names the file: ${lines[0]}`);
  assert.match(lines[0]!, problem);
  assert.doesNotMatch(res.err, /\n\s+at /);
}

test("header and size problems are one-line errors naming the file, exit 2", () => {
  const cases: [string, Buffer, RegExp][] = [
    ["short-header.f32bin", Buffer.alloc(9), /truncated header/],
    ["truncated.f32bin", header(4n, 4n, 40), /truncated: header says 4x4/],
    ["zero-rows.f32bin", header(0n, 4n, 0), /nrow must be > 0/],
    ["neg-cols.f32bin", header(4n, -3n, 0), /ncol must be > 0/],
    ["overflow.f32bin", header(1n << 40n, 1n << 40n, 8), /too large/],
    ["too-long.f32bin", header(2n, 2n, 24), /8 bytes beyond the 2x2 matrix/],
  ];
  for (const [name, buf, problem] of cases) {
    const p = file(name, buf);
    assertOneLineError(cli("--weight", `ffn_down=${p}`), name, problem);
  }
});

test("an unreadable file inside the study folder is an error, a missing one a note", () => {
  const dir = join(tmp, "folder");
  mkdirSync(dir);
  writeFileSync(join(dir, "blk_0_ffn_down_weight.f32bin"), encodeF32Bin(matrix(32, 256, noise)));
  let res = cli(dir, "--type", "proxy");
  assert.equal(res.code, 0, res.err);
  assert.match(res.err, /note: ffn_gate: SKIP \(blk_0_ffn_gate_weight\.f32bin: no such file\)/);
  assert.match(res.out, /SECTION 9/);
  assert.match(res.out, /ffn_down: SKIP \(activation ffn_down_input \(swiglu\) missing\)/);
  writeFileSync(join(dir, "act_blk0_ffn_input.f32bin"), header(3n, 256n, 5));
  res = cli(dir, "--type", "proxy");
  assertOneLineError(res, "act_blk0_ffn_input.f32bin", /truncated/);
});

test("weight/activation column mismatch: a warning naming the file, sections 6 and 9 skip it", () => {
  const w = file("w-mismatch.f32bin", encodeF32Bin(matrix(16, 256, noise)));
  const a = file("a-mismatch.f32bin", encodeF32Bin(matrix(8, 128, noise)));
  const res = cli("--weight", `ffn_down=${w}`, "--activation", `ffn_down_input=${a}`, "--type", "proxy");
  assert.equal(res.code, 0, res.err);
  assert.match(res.err, /warning: w-mismatch\.f32bin: 256 columns but its activation ffn_down_input \(swiglu\) has 128/);
  assert.match(res.out, /ffn_down: dim mismatch W=256 vs A=128, SKIP/);
});

test("NaN/Inf are counted, reported, excluded (statistics equal those of the clean values)", () => {
  const clean = matrix(8, 256, noise);
  const dirty = { ...clean, data: Float32Array.from(clean.data) };
  dirty.data[3] = NaN; dirty.data[100] = Infinity; dirty.data[700] = -Infinity;
  const cleanVals = clean.data.filter((_, i) => i !== 3 && i !== 100 && i !== 700);
  const pw = file("nan.f32bin", encodeF32Bin(dirty));
  const r = runStudy({ weights: [{ key: "ffn_down", path: pw, seedLabel: null, input: null }], activations: [] },
    { seedCompat: false, quantizer: proxyQuantizer() });
  const s = r.section1.tensors[0]!;
  assert.deepEqual(s.nonFinite, { nan: 1, posInf: 1, negInf: 1 });
  assert.equal(s.n, cleanVals.length);
  const mean = cleanVals.reduce((x, y) => x + y, 0) / cleanVals.length;
  assert.ok(Math.abs(s.mean! - mean) < 1e-12);
  assert.ok(r.warnings.some((w) => /nan\.f32bin: 1 NaN, 1 \+Inf, 1 -Inf values; excluded/.test(w)));
  assert.ok(Number.isFinite(r.section3.tensors[0]!.quantRmse!));
  // The seed-compat path (where the study would crash, defect 15) finishes too.
  const seed = runStudy({ weights: [{ key: "ffn_down", path: pw, seedLabel: "x", input: null }], activations: [] },
    { seedCompat: true, quantizer: proxyQuantizer() });
  assert.match(formatStudySeed(seed), /ANALYSIS COMPLETE/);
  const res = cli("--weight", `ffn_down=${pw}`, "--type", "proxy");
  assert.equal(res.code, 0);
  assert.match(res.err, /warning: nan\.f32bin: 1 NaN, 1 \+Inf, 1 -Inf values; excluded from every statistic/);
});

test("row lengths not a multiple of 16 or 256: warnings, no crash, super-block sections say why they are empty", () => {
  const w = file("w-172.f32bin", encodeF32Bin(matrix(20, 172, noise)));
  const a = file("a-172.f32bin", encodeF32Bin(matrix(10, 172, noise)));
  const w2 = file("w-272.f32bin", encodeF32Bin(matrix(4, 272, noise)));
  const a2 = file("a-272.f32bin", encodeF32Bin(matrix(5, 272, noise)));
  const res = cli("--weight", `ffn_down=${w}`, "--activation", `ffn_down_input=${a}`, "--weight", `attn_q=${w2}`, "--activation", `attn_input=${a2}`);
  assert.equal(res.code, 0, res.err);
  assert.match(res.err, /warning: w-172\.f32bin: row length 172 is not a multiple of 16/);
  assert.match(res.err, /warning: w-272\.f32bin: row length 272 is not a multiple of 256/);
  assert.match(res.out, /ffn_down × ffn_down_input \(swiglu\): 0 super-blocks \(\+172 tail columns not in any\)/);
  assert.match(res.out, /row length 172 is shorter than one Q2_K block \(256\)/);
  assert.match(res.out, /attn_q × attn_input \(q\/k\/v\): 1 super-blocks \(\+16 tail columns not in any\)/);
  assert.match(res.out, /STUDY COMPLETE/);
  assert.doesNotMatch(res.err, /\n\s+at /);
});

test("bad flags: unknown type, malformed pairs, nothing to study", () => {
  const ex = join(repo, "examples", "tinyqwen-blk0");
  let res = cli(ex, "--type", "q9_z");
  assert.equal(res.code, 2);
  assert.match(res.err, /^quantscope: unknown type "q9_z" \(supported: .*Q8_0/);
  res = cli("--weight", "nonsense");
  assert.equal(res.code, 2);
  assert.match(res.err, /--weight expects NAME=PATH/);
  res = cli("--activation", "foo=x.f32bin");
  assert.equal(res.code, 2);
  assert.match(res.err, /unknown kind "foo"/);
  res = cli();
  assert.equal(res.code, 2);
  assert.match(res.err, /give a DIR/);
  res = cli(join(tmp, "no-such-dir"));
  assert.equal(res.code, 2);
  assert.match(res.err, /no-such-dir: no such directory/);
});

test("activations with fewer ffn_input tokens than SwiGLU tokens pair only the common tokens (defect 27)", () => {
  const dir = join(tmp, "tokens");
  mkdirSync(dir);
  for (const f of ["blk_0_ffn_down_weight.f32bin"]) copyFileSync(join(repo, "examples", "tinyqwen-blk0", f), join(dir, f));
  writeFileSync(join(dir, "act_blk0_ffn_input.f32bin"), encodeF32Bin(matrix(2, 256, noise)));
  writeFileSync(join(dir, "act_blk0_ffn_down_input.f32bin"), encodeF32Bin(matrix(5, 1024, noise)));
  const r = runStudy({
    weights: [], activations: [
      { key: "ffn_input (gate/up)", path: join(dir, "act_blk0_ffn_input.f32bin") },
      { key: "ffn_down_input (swiglu)", path: join(dir, "act_blk0_ffn_down_input.f32bin") },
    ],
  }, { seedCompat: false, quantizer: proxyQuantizer() });
  assert.equal(r.section8.tokens.length, 2);
  assert.match(r.section8.note!, /only the first 2 are paired/);
  assert.match(formatStudyText(r), /STUDY COMPLETE/);
});
