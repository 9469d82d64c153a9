// Expert-level evidence and findings for MoE tensors (moe-tiny-f16.gguf with
// moe-tiny-imatrix.gguf). Expected figures come from the raw imatrix tensors
// and from llama-quantize's own output (moe-tiny-Q4_K_M.gguf), not from the
// code under test; each rule's threshold is checked on synthetic evidence.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/source.js";
import { collectExpertEvidence, type ExpertTensorEvidence } from "../src/analysis/diagnosis/experts-evidence.js";
import { diagnoseExperts, EXPERT_THRESHOLDS } from "../src/analysis/diagnosis/experts.js";
import { diagnose } from "../src/analysis/diagnosis/diagnosis.js";
import type { ReportData } from "../src/analysis/diagnosis/model.js";
import { renderMarkdown } from "../src/report/markdown.js";
import { renderHtml } from "../src/report/html.js";
import { encodeGguf } from "../src/io/gguf-write.js";
import { dequantize, quantize } from "../src/quant/index.js";
import { GgufValueType } from "../src/io/gguf-header.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const F16 = fx("moe/moe-tiny-f16.gguf");

/** Per expert from the raw imatrix tensors: tokens, and the share of in_sum2/count in the top 2 of 256 columns. */
function rawImatrix(name: string): { tokens: number[]; share: number[] } {
  const src = new GgufSource(fx("moe/moe-tiny-imatrix.gguf"));
  try {
    const sums = src.read(`${name}.in_sum2`);
    const counts = Array.from(src.read(`${name}.counts`).data);
    const share = counts.map((c, e) => {
      const v = Array.from(sums.data.subarray(e * sums.cols, (e + 1) * sums.cols), (x) => x / c).sort((a, b) => b - a);
      return (v[0]! + v[1]!) / v.reduce((a, b) => a + b, 0);
    });
    return { tokens: counts, share };
  } finally {
    src.close();
  }
}

/** Per expert: ||W - What|| / ||W|| with What read from llama-quantize's Q4_K_M file. */
function llamaQuantizeRelRmse(name: string): number[] {
  const a = new GgufSource(F16), b = new GgufSource(fx("moe/moe-tiny-Q4_K_M.gguf"));
  try {
    const w = a.read(name).data, q = b.read(name).data;
    const n = 256 * 256;
    return Array.from({ length: 8 }, (_, e) => {
      let se = 0, ss = 0;
      for (let i = e * n; i < (e + 1) * n; i++) { se += (w[i]! - q[i]!) ** 2; ss += w[i]! ** 2; }
      return Math.sqrt(se / ss);
    });
  } finally {
    a.close();
    b.close();
  }
}

let evidence: ExpertTensorEvidence[] | undefined;
function q4Evidence(): ExpertTensorEvidence[] {
  if (evidence) return evidence;
  const src = new GgufSource(F16);
  try {
    evidence = collectExpertEvidence(src, { imatrix: readImatrix(fx("moe/moe-tiny-imatrix.gguf")), type: "Q4_K" });
  } finally {
    src.close();
  }
  return evidence;
}

test("expert evidence at the type llama-quantize chose (Q4_K_M file): relative RMSE per expert equals its own output; tokens and activation shares equal the raw imatrix", () => {
  const q = new GgufSource(fx("moe/moe-tiny-Q4_K_M.gguf"));
  const stored = new Map(q.tensors().filter((t) => t.name.includes("_exps")).map((t) => [t.name, t.type]));
  q.close();
  assert.equal(stored.size, 12);
  const src = new GgufSource(F16);
  const im = readImatrix(fx("moe/moe-tiny-imatrix.gguf"));
  const ev: ExpertTensorEvidence[] = [];
  try {
    for (const type of new Set(stored.values())) {
      const names = [...stored].filter(([, t]) => t === type).map(([n]) => n.replace(/\./g, "\\."));
      ev.push(...collectExpertEvidence(src, { imatrix: im, type, tensors: new RegExp(`^(${names.join("|")})$`) }));
    }
  } finally {
    src.close();
  }
  assert.equal(ev.length, 12);
  assert.ok(new Set(ev.map((t) => t.type)).size >= 2, "Q4_K and Q6_K expert tensors both checked");
  for (const t of ev) {
    assert.equal(t.experts, 8);
    assert.equal(t.type, stored.get(t.name));
    assert.equal(t.usedImatrix, true);
    const want = llamaQuantizeRelRmse(t.name);
    t.relRmse.forEach((r, e) => assert.ok(Math.abs(r - want[e]!) <= 1e-9 * want[e]!, `${t.name} expert ${e}: ${r} vs ${want[e]}`));
    const raw = rawImatrix(t.name);
    assert.deepEqual(t.tokens, raw.tokens);
    t.actTop1Share!.forEach((s, e) => assert.ok(Math.abs(s - raw.share[e]!) < 1e-6, `${t.name} expert ${e}: share ${s} vs ${raw.share[e]}`));
  }
});

test("expert findings on moe-tiny: few-token and outlier-activation experts as computed from the raw imatrix; no expert is much harder than its siblings", () => {
  const ev = q4Evidence();
  const found = diagnoseExperts(ev);
  // Expected, independently: experts under 25 % of an even share, per layer; experts whose top-2 columns hold >= 10 %.
  const few: string[] = [];
  const outliers: string[] = [];
  for (let b = 0; b < 4; b++) {
    const up = rawImatrix(`blk.${b}.ffn_up_exps.weight`);
    const even = up.tokens.reduce((x, y) => x + y, 0) / 8;
    up.tokens.forEach((n, e) => { if (n < 0.25 * even) few.push(`${b}:${e}`); });
    for (const w of ["gate", "up", "down"]) {
      const name = `blk.${b}.ffn_${w}_exps.weight`;
      const r = rawImatrix(name);
      const hits = r.share.flatMap((s, e) => (s >= 0.10 ? [e] : []));
      if (hits.length) outliers.push(`${name}:${hits.join(",")}`);
    }
  }
  assert.deepEqual(few, ["1:6"]);
  const fewF = found.filter((f) => f.id === "expert-few-tokens");
  assert.deepEqual(fewF.map((f) => `${f.tensor.match(/blk\.(\d+)/)![1]}:${(f.evidence.experts as number[]).join(",")}`), few);
  assert.equal(fewF[0]!.tensor, "blk.1.ffn_gate_exps.weight, blk.1.ffn_up_exps.weight, blk.1.ffn_down_exps.weight");
  assert.equal(fewF[0]!.severity, "medium");
  assert.ok(Math.abs(fewF[0]!.value - 277 / 2560) < 1e-12);
  assert.match(fewF[0]!.text, /expert 6 \(277 tokens, 10\.8 % of an even share\) saw few tokens: llama-quantize uses its importance vector as is/);
  const actF = found.filter((f) => f.id === "expert-act-outlier");
  assert.deepEqual(actF.map((f) => `${f.tensor}:${(f.evidence.experts as number[]).join(",")}`), outliers);
  assert.ok(outliers.length >= 1, "the fixture has experts with concentrated ffn_down inputs");
  // Random Student-t weights: every expert quantizes alike (llama-quantize's own errors are within 1.25x of the median).
  for (const t of ev) {
    const r = llamaQuantizeRelRmse(t.name).sort((a, b) => a - b);
    const med = (r[3]! + r[4]!) / 2;
    assert.ok(r[7]! / med < EXPERT_THRESHOLDS.hardRatio, t.name);
  }
  assert.equal(found.filter((f) => f.id === "expert-hard").length, 0);
});

function synthetic(over: Partial<ExpertTensorEvidence>): ExpertTensorEvidence {
  return {
    name: "blk.0.ffn_down_exps.weight", kind: "ffn_down_exps", layer: 0, experts: 4, rows: 8, cols: 256, type: "Q2_K", usedImatrix: true,
    tokens: [100, 100, 100, 100], actTop1Share: [0.02, 0.02, 0.02, 0.02], topColumns: [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]],
    relRmse: [0.3, 0.3, 0.3, 0.3], relOutputError: [0.3, 0.3, 0.3, 0.3], ...over,
  };
}

test("expert rules: each fires above its threshold and stays silent below; severities", () => {
  assert.equal(diagnoseExperts([synthetic({})]).length, 0);
  // even share 100: 25 tokens is exactly the threshold (silent), 24 fires; 0 is high.
  assert.equal(diagnoseExperts([synthetic({ tokens: [125, 125, 125, 25] })]).length, 0);
  const few = diagnoseExperts([synthetic({ tokens: [126, 125, 125, 24] })]);
  assert.deepEqual(few.map((f) => [f.id, f.severity, f.evidence.experts]), [["expert-few-tokens", "medium", [3]]]);
  const none = diagnoseExperts([synthetic({ tokens: [150, 125, 125, 0] })]);
  assert.deepEqual(none.map((f) => [f.id, f.severity]), [["expert-few-tokens", "high"]]);
  assert.match(none[0]!.text, /expert 3 saw no tokens in the imatrix: llama-quantize gives it an all-ones importance vector, i\.e\. quantizes it unweighted/);
  // Two tensors of a layer with the same counts: one finding naming both.
  assert.equal(diagnoseExperts([synthetic({ tokens: [150, 125, 125, 0] }), synthetic({ name: "blk.0.ffn_up_exps.weight", tokens: [150, 125, 125, 0] })]).filter((f) => f.id === "expert-few-tokens").length, 1);
  assert.equal(diagnoseExperts([synthetic({ actTop1Share: [0.02, 0.0999, 0.02, 0.02] })]).length, 0);
  const act = diagnoseExperts([synthetic({ actTop1Share: [0.02, 0.10, 0.3, NaN] })]);
  assert.deepEqual(act.map((f) => [f.id, f.severity, f.evidence.experts, f.value]), [["expert-act-outlier", "high", [1, 2], 0.3]]);
  assert.equal(diagnoseExperts([synthetic({ relRmse: [0.3, 0.3, 0.3, 0.3 * 1.24] })]).length, 0);
  const hard = diagnoseExperts([synthetic({ relRmse: [0.3, 0.3, 0.3, 0.3 * 1.3] })]);
  assert.deepEqual(hard.map((f) => [f.id, f.severity, f.evidence.experts]), [["expert-hard", "medium", [3]]]);
  assert.equal(diagnoseExperts([synthetic({ relRmse: [0.3, 0.3, 0.3, 0.3 * 1.6] })])[0]!.severity, "high");
  // Without an imatrix only expert-hard can fire.
  assert.deepEqual(diagnoseExperts([synthetic({ tokens: undefined, actTop1Share: undefined, topColumns: undefined, relOutputError: undefined, usedImatrix: false, relRmse: [0.3, 0.3, 0.3, 0.6] })]).map((f) => f.id), ["expert-hard"]);
});

test("an expert with heavy outliers is found by collectExpertEvidence + diagnoseExperts (synthetic 3-D GGUF, no imatrix)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-moe-diag-"));
  try {
    const cols = 256, rows = 16, experts = 4;
    const data = new Float32Array(cols * rows * experts);
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
    for (let i = 0; i < data.length; i++) data[i] = rnd() * 0.1;
    // Expert 2: one weight in every 16 is 6x larger; the Q2_K sub-blocks holding them lose their neighbours' precision.
    for (let i = 2 * cols * rows; i < 3 * cols * rows; i += 16) data[i] = data[i]! * 6;
    const path = join(dir, "m.gguf");
    writeFileSync(path, encodeGguf([
      { key: "general.architecture", type: GgufValueType.STRING, value: "qwen3moe" },
      { key: "qwen3moe.expert_count", type: GgufValueType.UINT32, value: experts },
    ], [{ name: "blk.0.ffn_down_exps.weight", shape: [cols, rows, experts], type: "F32", data: new Uint8Array(data.buffer) }]));
    const src = new GgufSource(path);
    let ev: ExpertTensorEvidence[];
    try {
      ev = collectExpertEvidence(src, {});
    } finally {
      src.close();
    }
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.usedImatrix, false);
    assert.equal(ev[0]!.tokens, undefined);
    // Independently: each slice through the codec (quantize/dequantize, byte-checked against llama.cpp elsewhere).
    const want = Array.from({ length: experts }, (_, e) => {
      const w = data.subarray(e * cols * rows, (e + 1) * cols * rows);
      const q = dequantize("Q2_K", quantize("Q2_K", w, rows, cols), rows, cols);
      let se = 0, ss = 0;
      for (let i = 0; i < w.length; i++) { se += (w[i]! - q[i]!) ** 2; ss += w[i]! ** 2; }
      return Math.sqrt(se / ss);
    });
    ev[0]!.relRmse.forEach((r, e) => assert.ok(Math.abs(r - want[e]!) <= 1e-9 * want[e]!, `expert ${e}: ${r} vs ${want[e]}`));
    const sorted = [...want].sort((a, b) => a - b);
    const ratio = want[2]! / ((sorted[1]! + sorted[2]!) / 2);
    assert.ok(ratio > 1.5 && sorted[3] === want[2], `expert 2 is ${ratio}x the median`);
    const f = diagnoseExperts(ev);
    assert.deepEqual(f.map((x) => [x.id, x.evidence.experts]), [["expert-hard", [2]]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("diagnose() and the HTML / Markdown carry the expert findings and table", () => {
  const ev = q4Evidence();
  const data: ReportData = { model: "moe-tiny", tensors: [], plans: [], records: [], notes: [], imatrix: "moe-tiny-imatrix.gguf", experts: ev };
  const d = diagnose(data);
  assert.deepEqual(d.experts, diagnoseExperts(ev));
  const m = d.summary.find((f) => f.id === "experts-model")!;
  assert.equal(m.severity, "medium");
  assert.match(m.text, /^12 expert tensors of 8 experts: 1 layer with experts the imatrix barely saw/);
  const md = renderMarkdown(data, d, () => "");
  assert.match(md, /## Experts/);
  assert.match(md, /\| blk\.1\.ffn_down_exps\.weight \| 8 \| 277 \(6\) \/ 5842 \|/);
  for (const f of d.experts) assert.ok(md.includes(f.text), f.id);
  const html = renderHtml(data, d, { bundles: false }).html;
  assert.match(html, /<section id="experts"><h2>Experts<\/h2>/);
  assert.match(html, /href="#experts"/);
});
