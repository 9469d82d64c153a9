// Standard-mix rules vs what llama-quantize really wrote: the per-tensor table
// in the peer fallbacks file (stories260K, several ftypes), and the tensor
// types stored in the quantized GGUF fixtures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FTYPES, fallbackType, parseMix, requiresImatrix, standardMix, useMoreBits, mixModelFromSource, type MixModel, type MixTensor } from "../src/analysis/plan/mixes.js";

const FIX = new URL("../../shared/fixtures/", import.meta.url);
const fx = (p: string) => fileURLToPath(new URL(p, FIX));

/** stories260K's tensor list, from its README (ggml shapes, ne0 first). */
function stories260K(): MixModel {
  const t: MixTensor[] = [
    { name: "token_embd.weight", shape: [64, 512], type: "F32" },
    { name: "output.weight", shape: [64, 512], type: "F32" },
    { name: "output_norm.weight", shape: [64], type: "F32" },
  ];
  for (let l = 0; l < 5; l++) {
    const p = `blk.${l}.`;
    t.push(
      { name: p + "attn_norm.weight", shape: [64], type: "F32" },
      { name: p + "ffn_norm.weight", shape: [64], type: "F32" },
      { name: p + "attn_q.weight", shape: [64, 64], type: "F32" },
      { name: p + "attn_k.weight", shape: [64, 32], type: "F32" },
      { name: p + "attn_v.weight", shape: [64, 32], type: "F32" },
      { name: p + "attn_output.weight", shape: [64, 64], type: "F32" },
      { name: p + "ffn_gate.weight", shape: [64, 172], type: "F32" },
      { name: p + "ffn_up.weight", shape: [64, 172], type: "F32" },
      { name: p + "ffn_down.weight", shape: [172, 64], type: "F32" },
    );
  }
  return { arch: "llama", nLayer: 5, nHead: 8, nHeadKv: 4, nExpert: 0, tensors: t };
}

/** Parses the "without imatrix" table: tensor kind -> mix -> per-layer expected types. */
function peerTable(section: string): Map<string, Map<string, string[]>> {
  const text = readFileSync(fx("peer/llama_quantize_fallbacks.md"), "utf8");
  const start = text.indexOf(section);
  assert.ok(start >= 0, `section ${section}`);
  const lines = text.slice(start).split("\n").filter((l) => l.startsWith("|"));
  const header = lines[0]!.split("|").map((s) => s.trim()).filter(Boolean);
  const out = new Map<string, Map<string, string[]>>();
  for (const line of lines.slice(2)) {
    const cells = line.split("|").map((s) => s.trim()).filter(Boolean);
    if (cells.length !== header.length) break;
    const row = new Map<string, string[]>();
    header.slice(1).forEach((mix, i) => row.set(mix, cells[i + 1]!.split("/").map((s) => s.toUpperCase())));
    out.set(cells[0]!, row);
    if (cells[0] === "(1-D norms)") break;
  }
  return out;
}

for (const section of ["### without imatrix", "### with --imatrix"]) {
  test(`stories260K mixes match llama-quantize's table (${section})`, () => {
    const table = peerTable(section);
    const model = stories260K();
    let checked = 0;
    const mixes = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_XS", "TQ1_0", "TQ2_0", "IQ2_XXS"];
    for (const mix of mixes) {
      const got = standardMix(mix, model, { hasImatrix: section.includes("--imatrix") });
      const byName = new Map(got.map((a) => [a.tensor, a.type]));
      for (const [kind, row] of table) {
        const want = row.get(mix);
        assert.ok(want, `${mix} column`);
        const names = kind === "(1-D norms)"
          ? model.tensors.filter((t) => t.shape.length === 1).map((t) => t.name)
          : kind === "token_embd" || kind === "output" ? [`${kind}.weight`]
          : [0, 1, 2, 3, 4].map((l) => `blk.${l}.${kind}.weight`);
        const types = names.map((n) => byName.get(n));
        // "a/b" in the table: the set of types seen over layers, in order of first appearance.
        const distinct = [...new Set(types)];
        assert.deepEqual(new Set(distinct), new Set(want), `${mix} ${kind}: got ${types.join(",")}, table ${want!.join("/")}`);
        checked++;
      }
    }
    assert.equal(checked, mixes.length * 10);
  });
}

// Issue 12: the "with --imatrix" case used to repeat the other (the section test looked for
// "imatrix.gguf", which the heading does not contain), and standardMix ignored its options.
// Where llama.cpp's rules (src/llama-quant.cpp, llama_tensor_get_type_impl) read has_imatrix, by
// hand for a 16-layer model with n_gqa = 1 (n/8 = 2: layers 0 and 1 are the "first eighth"):
//   IQ3_XXS attn_v:   n_gqa < 4 -> has_imatrix ? IQ3_XXS : IQ3_S            (every layer)
//   IQ3_XXS ffn_down: !has_imatrix -> layer < n/8 ? Q4_K : Q3_K           (every layer; default IQ3_XXS with)
//   IQ4_NL / IQ4_XS ffn_down: layer < n/8 && !has_imatrix -> Q5_K         (layers 0, 1)
//   Q4_0 / Q5_0 ffn_down: has_imatrix && layer < n/8 -> Q4_1 / Q5_1       (layers 0, 1)
// Every other (ftype, tensor) must be the same with and without.
function dense16(): MixModel {
  const t: MixTensor[] = [
    { name: "token_embd.weight", shape: [256, 1000], type: "F16" },
    { name: "output.weight", shape: [256, 1000], type: "F16" },
    { name: "output_norm.weight", shape: [256], type: "F32" },
  ];
  for (let l = 0; l < 16; l++) {
    for (const k of ["attn_q", "attn_k", "attn_v", "attn_output"]) t.push({ name: `blk.${l}.${k}.weight`, shape: [256, 256], type: "F16" });
    t.push({ name: `blk.${l}.ffn_gate.weight`, shape: [256, 512], type: "F16" }, { name: `blk.${l}.ffn_up.weight`, shape: [256, 512], type: "F16" });
    t.push({ name: `blk.${l}.ffn_down.weight`, shape: [512, 256], type: "F16" }, { name: `blk.${l}.attn_norm.weight`, shape: [256], type: "F32" });
  }
  return { arch: "llama", nLayer: 16, nHead: 8, nHeadKv: 8, nExpert: 0, tensors: t };
}

test("--imatrix changes exactly the tensors llama.cpp's has_imatrix rules name (16 layers, n_gqa 1)", () => {
  const want: string[] = [];
  for (let l = 0; l < 16; l++) {
    want.push(`IQ3_XXS blk.${l}.attn_v.weight IQ3_XXS/IQ3_S`);
    want.push(`IQ3_XXS blk.${l}.ffn_down.weight IQ3_XXS/${l < 2 ? "Q4_K" : "Q3_K"}`);
  }
  for (let l = 0; l < 2; l++) {
    want.push(`IQ4_NL blk.${l}.ffn_down.weight IQ4_NL/Q5_K`, `IQ4_XS blk.${l}.ffn_down.weight IQ4_XS/Q5_K`);
    want.push(`Q4_0 blk.${l}.ffn_down.weight Q4_1/Q4_0`, `Q5_0 blk.${l}.ffn_down.weight Q5_1/Q5_0`);
  }
  const got: string[] = [];
  const model = dense16();
  for (const f of FTYPES) {
    const without = new Map(standardMix(f, model, { hasImatrix: false }).map((a) => [a.tensor, a.type]));
    for (const a of standardMix(f, model, { hasImatrix: true })) {
      if (a.type !== without.get(a.tensor)) got.push(`${f} ${a.tensor} ${a.type}/${without.get(a.tensor)}`);
    }
  }
  assert.deepEqual(got.sort(), want.sort());
});

test("tensor_requires_imatrix: IQ1/IQ2/IQ3_XXS types, Q2_K only in Q2_K_S, never token_embd/output", () => {
  for (const t of ["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS"]) {
    assert.equal(requiresImatrix("blk.0.attn_q.weight", t), true, t);
    assert.equal(requiresImatrix("output.weight", t), false, t);
    assert.equal(requiresImatrix("token_embd.weight", t), false, t);
  }
  for (const t of ["IQ3_S", "IQ4_NL", "IQ4_XS", "Q2_K", "Q4_K", "TQ1_0", "Q1_0"]) assert.equal(requiresImatrix("blk.0.attn_q.weight", t, "Q2_K"), false, t);
  assert.equal(requiresImatrix("blk.0.attn_q.weight", "Q2_K", "Q2_K_S"), true);
  // Q2_K_S on a 16-layer model: Q2_K tensors need the imatrix, its Q4_K ffn_down (first eighth) do not.
  const need = standardMix("Q2_K_S", dense16()).filter((a) => a.requiresImatrix).map((a) => a.tensor);
  assert.ok(need.includes("blk.5.attn_q.weight") && !need.includes("blk.0.ffn_down.weight") && !need.includes("output.weight"));
});

test("unknown ftype: one line listing the valid names", () => {
  assert.throws(() => parseMix("Q4_K_X"), (e: Error) => !e.message.includes("\n") && /unknown ftype "Q4_K_X" \(valid: Q1_0, Q2_0, .* Q8_0; aliases Q3_K, Q4_K, Q5_K\)/.test(e.message));
  assert.equal(parseMix("q4_k"), "Q4_K_M");
  assert.equal(parseMix("iq2_xxs"), "IQ2_XXS");
});

test("stories260K Q4_K_M attn_v: Q6_K->Q8_0 exactly on layers 2 and 4 (use_more_bits with n=5)", () => {
  const got = standardMix("Q4_K_M", stories260K());
  const v = [0, 1, 2, 3, 4].map((l) => got.find((a) => a.tensor === `blk.${l}.attn_v.weight`)!.type);
  assert.deepEqual(v, ["Q5_0", "Q5_0", "Q8_0", "Q5_0", "Q8_0"]);
});

test("use_more_bits layer pattern (independent enumeration for 32 layers)", () => {
  // First 4, last 4, and layers 4+3k+2 in between: 6, 9, 12, ..., 27.
  const want = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
  const got = [...Array(32).keys()].filter((i) => useMoreBits(i, 32));
  assert.deepEqual(got, want);
});

test("fallback chain from the peer notes", () => {
  assert.deepEqual(fallbackType("Q4_K", 64), { type: "Q5_0", fallback: true, note: "Q4_K->Q5_0 (ne0 64 % 256)" });
  assert.equal(fallbackType("Q5_K", 64).type, "Q5_1");
  assert.equal(fallbackType("Q6_K", 64).type, "Q8_0");
  assert.equal(fallbackType("Q2_K", 64).type, "Q4_0");
  assert.equal(fallbackType("Q3_K", 64).type, "Q4_0");
  assert.equal(fallbackType("Q6_K", 172).type, "F16");
  assert.equal(fallbackType("Q4_K", 256).fallback, false);
  assert.throws(() => fallbackType("Q8_0", 172), /no tensor type fallback/);
});

// The quantized fixtures themselves (needs the GGUF reader).
const ggufCases: Array<[string, string, string]> = [
  ["models/stories260K-Q4_K_M.gguf", "models/stories260K.gguf", "Q4_K_M"],
  ["models/stories260K-Q4_K_M-imatrix.gguf", "models/stories260K.gguf", "Q4_K_M"],
  ["models/tinyqwen-Q4_K_M.gguf", "models/tinyqwen-f16.gguf", "Q4_K_M"],
  ["models/tinyqwen-Q2_K.gguf", "models/tinyqwen-f16.gguf", "Q2_K"],
];
for (const [quantized, source, mix] of ggufCases) {
  test(`${mix} rules reproduce every tensor type in ${quantized}`, async () => {
    const { openSource } = await import("../src/io/source.js");
    assert.ok(existsSync(fx(quantized)));
    const src = openSource(fx(source));
    const q = openSource(fx(quantized));
    try {
      const model = mixModelFromSource(src);
      const got = new Map(standardMix(mix, model).map((a) => [a.tensor, a.type]));
      const stored = q.tensors();
      assert.equal(stored.length, got.size);
      for (const t of stored) assert.equal(got.get(t.name), t.type.toUpperCase(), t.name);
    } finally {
      src.close();
      q.close();
    }
  });
}
