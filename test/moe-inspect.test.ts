// inspect on MoE files: the model's expert facts and the imatrix's tokens per
// expert with warnings for starved experts. Expected figures are computed here
// from the raw header fields and counts tensors, not by the code under test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/source.js";
import { summarizeImatrix, summarizeModel } from "../src/io/summary.js";
import { formatImatrixSummary, formatModelSummary } from "../src/report/inspect-text.js";
import { moeFacts } from "../src/io/experts.js";
import { encodeGguf } from "../src/io/gguf-write.js";
import { GgufValueType } from "../src/io/gguf-header.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

test("inspect moe-tiny-f16.gguf: experts, experts used, expert FFN, expert tensors' share of bytes", () => {
  const src = new GgufSource(fx("moe/moe-tiny-f16.gguf"));
  try {
    const s = summarizeModel(src, 0);
    // 12 tensors of 256 x 256 x 8 F16 values; all tensor bytes from the header.
    const expertBytes = 12 * 256 * 256 * 8 * 2;
    const total = src.headers[0]!.tensors.reduce((a, t) => a + t.byteSize, 0);
    assert.deepEqual(s.moe, {
      experts: 8, expertsUsed: 2, sharedExperts: undefined, expertFfn: 256, expertTensors: 12,
      expertBytes, expertElements: expertBytes / 2, expertShare: expertBytes / total,
    });
    const text = formatModelSummary(s);
    assert.match(text, /experts: +8, 2 used per token, expert FFN 256\n/);
    assert.match(text, new RegExp(`12 expert tensors hold ${((100 * expertBytes) / total).toFixed(1)}% of tensor bytes \\(12\\.0 MiB, 6,291,456 weights\\)`));
    assert.match(text, /blk\.0\.ffn_up_exps\.weight +256 x 256 x 8 +F16/);
  } finally {
    src.close();
  }
  const dense = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  try {
    assert.equal(summarizeModel(dense, 0).moe, undefined);
    assert.doesNotMatch(formatModelSummary(summarizeModel(dense, 0)), /experts:/);
  } finally {
    dense.close();
  }
});

test("inspect moe-tiny-imatrix.gguf: tokens per expert per layer, and a warning for each expert under 25% of an even share", () => {
  // Independent: the raw counts tensors.
  const raw = new GgufSource(fx("moe/moe-tiny-imatrix.gguf"));
  const expected: string[] = [];
  const lines: string[] = [];
  try {
    for (let b = 0; b < 4; b++) {
      const c = Array.from(raw.read(`blk.${b}.ffn_up_exps.weight.counts`).data);
      for (const w of ["gate", "down"]) assert.deepEqual(Array.from(raw.read(`blk.${b}.ffn_${w}_exps.weight.counts`).data), c);
      lines.push(`    blk ${b} (ffn_down_exps, ffn_gate_exps, ffn_up_exps): ${c.join(" ")}`);
      const even = c.reduce((x, y) => x + y, 0) / 8;
      c.forEach((n, x) => { if (n < 0.25 * even) expected.push(`blk ${b} (3 tensors): expert ${x} (${n})`); });
    }
  } finally {
    raw.close();
  }
  assert.deepEqual(expected, ["blk 1 (3 tensors): expert 6 (277)"]); // the fixture's routing: 277 of an even 2560
  const im = readImatrix(fx("moe/moe-tiny-imatrix.gguf"));
  const s = summarizeImatrix(im);
  const text = formatImatrixSummary(s, undefined, "x");
  for (const l of lines) assert.ok(text.includes(l + "\n"), l);
  const warnings = text.split("\n").filter((l) => l.startsWith("  warning:"));
  assert.deepEqual(warnings, expected.map((e) => `  warning: ${e} saw fewer than 25% of an even share (2560 tokens): its importance vector is noisy`));
  const up = s.entries.find((e) => e.name === "blk.1.ffn_up_exps.weight")!;
  assert.deepEqual(up, { name: "blk.1.ffn_up_exps.weight", columns: 256, count: 20480, experts: 8, counts: [5842, 1521, 759, 2862, 1479, 5516, 277, 2224] });
  assert.match(text, /blk\.1\.ffn_up_exps\.weight +256 +20480 +8\n/);
  // Dense imatrix: no experts column, no per-expert section.
  const dense = formatImatrixSummary(summarizeImatrix(readImatrix(fx("imatrix/imatrix.gguf"))), undefined, "x");
  assert.doesNotMatch(dense, /experts|tokens per expert/);
});

test("an expert that saw no tokens is reported with what llama-quantize does; an expert_count that disagrees with a tensor is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-moe-inspect-"));
  try {
    const f32 = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);
    const path = join(dir, "im.gguf");
    writeFileSync(path, encodeGguf([{ key: "general.type", type: GgufValueType.STRING, value: "imatrix" }], [
      { name: "blk.5.ffn_up_exps.weight.in_sum2", shape: [2, 4], type: "F32", data: f32([1, 1, 1, 1, 0, 0, 1, 1]) },
      { name: "blk.5.ffn_up_exps.weight.counts", shape: [1, 4], type: "F32", data: f32([100, 90, 0, 10]) },
    ]));
    const text = formatImatrixSummary(summarizeImatrix(readImatrix(path)), undefined, "x");
    assert.match(text, /warning: blk 5 \(blk\.5\.ffn_up_exps\.weight\): expert 2 saw no tokens: no importance data \(llama-quantize quantizes it unweighted, as without an imatrix\)/);
    // even share 50, 25% = 12.5: expert 3 (10 tokens) is starved, expert 1 (90) is not
    assert.match(text, /warning: blk 5 \(blk\.5\.ffn_up_exps\.weight\): expert 3 \(10\) saw fewer than 25% of an even share \(50 tokens\)/);
    const model = join(dir, "m.gguf");
    writeFileSync(model, encodeGguf([
      { key: "general.architecture", type: GgufValueType.STRING, value: "qwen3moe" },
      { key: "qwen3moe.expert_count", type: GgufValueType.UINT32, value: 4 },
    ], [{ name: "blk.0.ffn_up_exps.weight", shape: [32, 2, 3], type: "F32", data: new Uint8Array(32 * 2 * 3 * 4) }]));
    const src = new GgufSource(model);
    try {
      assert.throws(() => moeFacts(src), /m\.gguf: tensor "blk\.0\.ffn_up_exps\.weight" at byte \d+: has 3 experts \(shape \[32, 2, 3\]\) but qwen3moe\.expert_count is 4/);
    } finally {
      src.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
