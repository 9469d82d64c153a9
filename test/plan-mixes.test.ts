// What plan compares with: the ftypes llama-quantize can build for a model
// (peer: which ftypes failed on stories260K), the nearest ones by size (sizes
// from llama-quantize's CSV), and each compared mix's per-tensor types/bytes
// and its predicted KL or an honest n/a.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FTYPES, mixModelFromSource, type Ftype } from "../src/analysis/plan/mixes.js";
import { mixMenu, nearestMixes } from "../src/analysis/plan/mix-menu.js";
import { imatrixKv, quantizedFileSize, quantizedLayout } from "../src/analysis/plan/mix-size.js";
import { plan } from "../src/analysis/plan/plan.js";
import { findCodec } from "../src/quant/registry.js";
import "../src/quant/index.js";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/source.js";
import type { SweepRecord, SweepResult } from "../src/analysis/sweep/types.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const CSV = readFileSync(fx("mixes/llama_quantize_tensor_types.csv"), "utf8").split(/\r?\n/).slice(1).map((l) => l.split(","));

test("stories260K: the ftypes llama-quantize failed on are not buildable; the ones it wrote are, with and without imatrix", () => {
  const src = new GgufSource(fx("models/stories260K.gguf"));
  try {
    const mm = mixModelFromSource(src);
    // shared/fixtures/peer/llama_quantize_fallbacks.md
    const failed = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "MXFP4_MOE"];
    const wrote = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_XS", "TQ1_0", "TQ2_0", "IQ2_XXS"];
    for (const hasImatrix of [false, true]) {
      const menu = mixMenu(mm, { hasImatrix });
      const bad = new Map(menu.unbuildable.map((u) => [u.mix as string, u.why]));
      for (const f of failed) assert.match(bad.get(f) ?? "", /no tensor type fallback/, `${f} (imatrix ${hasImatrix})`);
      for (const f of wrote) assert.ok(menu.mixes.some((m) => m.mix === f), `${f} buildable (imatrix ${hasImatrix})`);
      assert.equal(menu.mixes.length + menu.unbuildable.length, 32);
    }
  } finally {
    src.close();
  }
});

test("tinyqwen with imatrix: the 2 ftypes at or just below and the 2 just above a target, by llama-quantize's file sizes", () => {
  const sizes = CSV.filter((r) => r[0] === "tinyqwen-f16.gguf" && r[2] === "(file)").map((r) => ({ mix: r[1]!, size: Number(r[5]) }));
  assert.equal(sizes.length, 32);
  const sorted = [...sizes].sort((a, b) => a.size - b.size || FTYPES.indexOf(a.mix as Ftype) - FTYPES.indexOf(b.mix as Ftype));
  const src = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const layout = quantizedLayout(src.headers, imatrixKv(fx("tinyqwen/imatrix.gguf"), readImatrix(fx("tinyqwen/imatrix.gguf"))));
    const menu = mixMenu(mixModelFromSource(src), { hasImatrix: true, fileSize: (b) => quantizedFileSize(layout, b) });
    assert.equal(menu.mixes.length, 32);
    for (const target of [sizes.find((s) => s.mix === "Q4_K_M")!.size, 3_000_000, 1_000_000, 9e9]) {
      const lo = sorted.filter((s) => s.size <= target).slice(-2), hi = sorted.filter((s) => s.size > target).slice(0, 2);
      assert.deepEqual(nearestMixes(menu.mixes, target).map((m) => m.mix), [...lo, ...hi].map((s) => s.mix), `target ${target}`);
    }
  } finally {
    src.close();
  }
});

function rec(tensor: string, rows: number, cols: number, type: string, bytes: number, damage: number): SweepRecord {
  return {
    tensor, kind: "x", layer: null, nLayers: 6, rows, cols, requestedType: type, type, fallback: false,
    bpw: (8 * bytes) / (rows * cols), bytes, rmse: 0, relRmse: 0, maxAbsErr: 0, medianAbsErr: 0, p95AbsErr: 0,
    imatrixMse: null, outputRelErr: 0, outputErrorSource: "none", sensitivity: damage, usedImatrix: true, sampleFraction: 1,
  };
}

test("plan lists every compared mix's tensors as llama-quantize writes them; KL is n/a when a type has no codec or no sweep", () => {
  const src = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const mm = mixModelFromSource(src);
    const records: SweepRecord[] = [];
    const passengers: SweepResult["passengers"][number][] = [];
    for (const t of src.tensors()) {
      if (t.shape.length < 2) { passengers.push({ tensor: t.name, type: "F32", bytes: 4 * t.cols, elements: t.cols, reason: "1-D" }); continue; }
      const n = t.rows * t.cols;
      records.push(rec(t.name, t.rows, t.cols, "Q4_K", (n / 256) * 144, 2e-3), rec(t.name, t.rows, t.cols, "Q6_K", (n / 256) * 210, 1e-3));
    }
    const sweep: SweepResult = {
      model: "tinyqwen", architecture: "qwen3", nLayers: 6, types: ["Q4_K", "Q6_K"], imatrix: "imatrix.gguf", activations: null,
      sampleFraction: 1, seed: 1, records, passengers, notes: [], seconds: 0,
    };
    const layout = quantizedLayout(src.headers, imatrixKv(fx("tinyqwen/imatrix.gguf"), readImatrix(fx("tinyqwen/imatrix.gguf"))));
    const p = plan(sweep, {
      targetSize: 4_200_000, overheadBytes: quantizedFileSize(layout, []), fileSize: (b) => quantizedFileSize(layout, b),
      hasImatrix: true, mixModel: mm, mixes: ["Q4_K_M", "IQ3_S", "Q5_K_M"],
    });
    assert.deepEqual(p.mixes.map((m) => m.mix), ["Q4_K_M", "IQ3_S", "Q5_K_M"]);
    for (const m of p.mixes) {
      const rows = CSV.filter((r) => r[0] === "tinyqwen-f16.gguf" && r[1] === m.mix);
      const want = rows.filter((r) => r[2] !== "(file)").map((r) => `${r[2]} ${r[3]} ${r[5]}`).sort();
      assert.deepEqual(m.tensors.map((a) => `${a.tensor} ${a.type} ${a.bytes}`).sort(), want, m.mix);
      assert.equal(m.bytes, Number(rows.find((r) => r[2] === "(file)")![5]), `${m.mix} file size`);
    }
    const [q4km, iq3s, q5km] = p.mixes;
    // Q4_K_M on tinyqwen is Q4_K + Q6_K (+ F32 norms): all swept, so its KL is the sum of the records' damages.
    const nQ6 = q4km!.tensors.filter((a) => a.type === "Q6_K").length, nQ4 = q4km!.tensors.filter((a) => a.type === "Q4_K").length;
    assert.ok(Math.abs(q4km!.predictedKl - (nQ6 * 1e-3 + nQ4 * 2e-3)) < 1e-12 && q4km!.klNote === undefined);
    assert.ok(Number.isNaN(iq3s!.predictedKl));
    assert.equal(iq3s!.klNote, findCodec("IQ3_S") ? "type IQ3_S not swept (add it to --types)" : "type IQ3_S not supported");
    assert.ok(Number.isNaN(q5km!.predictedKl));
    assert.equal(q5km!.klNote, "type Q5_K not swept (add it to --types)");
    assert.ok(p.fileBytes <= 4_200_000);
  } finally {
    src.close();
  }
});

test("--emit tensor-types writes type names llama-quantize's parser accepts (ggml_type_name, ggml.c at 3f545bec)", async () => {
  const { ggmlTypeName, planCandidateTypes } = await import("../src/analysis/plan/plan.js");
  const { allGgmlTypes } = await import("../src/ggml/types.js");
  // type_traits[].type_name in ggml/src/ggml.c; parse_ggml_type compares case-insensitively.
  const names = ["i8", "i16", "i32", "i64", "f64", "f32", "f16", "q1_0", "q2_0", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1",
    "mxfp4", "nvfp4", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq2_xxs", "iq2_xs", "iq3_xxs", "iq3_s", "iq2_s", "iq1_s", "iq1_m",
    "iq4_nl", "iq4_xs", "q8_K", "bf16", "tq1_0", "tq2_0"];
  for (const t of [...allGgmlTypes().map((x) => x.name), ...planCandidateTypes(true)]) {
    assert.ok(names.includes(ggmlTypeName(t)), `${t} -> ${ggmlTypeName(t)}`);
  }
  assert.ok(planCandidateTypes(true).length > 0);
  for (const t of planCandidateTypes(false)) assert.ok(!["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS"].includes(t), t);
});

test("plan's file fits --target-size exactly, tensors whose bytes are not a multiple of the alignment included (stories260K)", async () => {
  const { tensorBytes } = await import("../src/analysis/plan/mixes.js");
  const src = new GgufSource(fx("models/stories260K.gguf"));
  try {
    const records: SweepRecord[] = [];
    const passengers: SweepResult["passengers"][number][] = [];
    for (const t of src.tensors()) {
      if (t.shape.length < 2) { passengers.push({ tensor: t.name, type: "F32", bytes: 4 * t.cols, elements: t.cols, reason: "1-D" }); continue; }
      // 64-wide rows: the 32-block types; ffn_down (172-wide) only F16. A 64x172 Q5_0 tensor is 7568 B (not a multiple of 32).
      const types = t.cols % 32 === 0 ? ["Q4_0", "Q5_0", "Q5_1", "Q8_0"] : ["F16"];
      types.forEach((ty, k) => records.push(rec(t.name, t.rows, t.cols, ty, tensorBytes(ty, t.shape), 1e-3 / (k + 1) * (1 + t.rows / 1000))));
    }
    const sweep: SweepResult = {
      model: "stories260K", architecture: "llama", nLayers: 5, types: [], imatrix: null, activations: null,
      sampleFraction: 1, seed: 1, records, passengers, notes: [], seconds: 0,
    };
    const layout = quantizedLayout(src.headers);
    let over = 0;
    for (let target = 285_000; target <= 330_000; target += 997) {
      const p = plan(sweep, {
        targetSize: target, overheadBytes: quantizedFileSize(layout, []), fileSize: (b) => quantizedFileSize(layout, b),
        alignment: layout.alignment, hasImatrix: false, mixModel: mixModelFromSource(src), mixes: [],
      });
      if (p.fileBytes > target) over++;
      assert.equal(p.fileBytes, quantizedFileSize(layout, [...p.choices.map((c) => c.bytes), ...passengers.map((x) => x.bytes)]));
    }
    assert.equal(over, 0, "plans larger than their target");
  } finally {
    src.close();
  }
});
