// The safetensors reader against a file quantscope did not write:
// test/fixtures/tiny.safetensors was written once by
// test/fixtures/write_safetensors.py (numpy + the spec, no quantscope code),
// so a misreading shared by quantscope's writer and reader would fail here.
// Every expected value below is stated from the script's formulas (all F16 /
// BF16 values are exactly representable, so no conversion code is involved).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";

const file = fileURLToPath(new URL("./fixtures/tiny.safetensors", import.meta.url));

test("safetensors written by an independent numpy script: names, ggml shapes, dtypes, offsets and values", () => {
  const src = openSource(file);
  try {
    assert.equal(src.format, "safetensors");
    assert.equal(src.metadata.get("format"), "pt");
    assert.equal(src.metadata.get("writer"), "numpy");
    const byName = new Map(src.tensors().map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), ["blk.0.attn_q.weight", "output.weight", "output_norm.weight", "special.f16", "token_embd.weight"]);
    const expect: Record<string, { hf: string; type: string; shape: number[]; values: number[] }> = {
      "blk.0.attn_q.weight": { hf: "model.layers.0.self_attn.q_proj.weight", type: "F16", shape: [8, 3], values: Array.from({ length: 24 }, (_, i) => (i - 12) / 8) },
      "token_embd.weight": { hf: "model.embed_tokens.weight", type: "F32", shape: [4, 5], values: Array.from({ length: 20 }, (_, i) => Math.fround(i * 0.1 - 0.3)) },
      "output.weight": { hf: "lm_head.weight", type: "BF16", shape: [4, 5], values: Array.from({ length: 20 }, (_, i) => (i === 19 ? 2 ** 100 : (i - 10) / 16)) },
      "output_norm.weight": { hf: "model.norm.weight", type: "F32", shape: [4], values: [1, 1.25, 1.5, 1.75] },
      "special.f16": { hf: "special.f16", type: "F16", shape: [4, 1], values: [65504, -(2 ** -24), -0, 2 ** -14] },
    };
    for (const [name, e] of Object.entries(expect)) {
      const t = byName.get(name)!;
      assert.equal(t.originalName, e.hf, name);
      assert.equal(t.type, e.type, name);
      assert.deepEqual(t.shape, e.shape, name);
      assert.equal(t.cols, e.shape[0], `${name} cols`);
      assert.equal(t.rows, e.shape[1] ?? 1, `${name} rows`);
      const m = src.read(name);
      assert.equal(m.rows * m.cols, e.values.length, name);
      // Object.is: -0 must stay -0
      e.values.forEach((v, i) => assert.ok(Object.is(m.data[i], v), `${name}[${i}] = ${m.data[i]}, expected ${v}`));
    }
    // row access: row 1 of q_proj is (8 + c - 12) / 8
    assert.deepEqual(Array.from(src.readRows("blk.0.attn_q.weight", 1, 1).data), [-4, -3, -2, -1, 0, 1, 2, 3].map((k) => k / 8));
  } finally {
    src.close();
  }
});
