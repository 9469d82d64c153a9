// Every row of llama-quantize's own output for tinyqwen (dense) and moe-tiny
// (qwen3moe, 8 experts, 3-D expert tensors) under all 32 quantized ftypes
// (shared/fixtures/mixes/llama_quantize_tensor_types.csv, made with --imatrix):
// the type and the bytes of every tensor exactly, and the file size within 0.1 %.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FTYPES, mixModelFromSource, sizedMix, standardMix } from "../src/analysis/plan/mixes.js";
import { imatrixKv, quantizedFileSize, quantizedLayout } from "../src/analysis/plan/mix-size.js";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/source.js";

const FIX = new URL("../../shared/fixtures/", import.meta.url);
const fx = (p: string) => fileURLToPath(new URL(p, FIX));

interface Row { model: string; ftype: string; tensor: string; type: string; ne: string; bytes: number }

function readCsv(): Row[] {
  const lines = readFileSync(fx("mixes/llama_quantize_tensor_types.csv"), "utf8").trim().split(/\r?\n/);
  assert.equal(lines[0], "model,ftype,tensor,type,ne,bytes");
  return lines.slice(1).map((l) => {
    const [model, ftype, tensor, type, ne, bytes] = l.split(",");
    return { model: model!, ftype: ftype!, tensor: tensor!, type: type!, ne: ne!, bytes: Number(bytes) };
  });
}

const ROWS = readCsv();
const MODELS: Array<[string, string, string]> = [
  ["tinyqwen-f16.gguf", "models/tinyqwen-f16.gguf", "tinyqwen/imatrix.gguf"],
  ["moe-tiny-f16.gguf", "moe/moe-tiny-f16.gguf", "moe/moe-tiny-imatrix.gguf"],
];

test("the CSV covers 2 models x 32 ftypes, 3,904 rows", () => {
  assert.equal(ROWS.length, 3904);
  for (const [model] of MODELS) {
    assert.deepEqual([...new Set(ROWS.filter((r) => r.model === model).map((r) => r.ftype))].sort(), [...FTYPES].sort());
  }
});

let checkedRows = 0;
for (const [model, path, imatrixPath] of MODELS) {
  test(`${model}: every tensor's type and bytes under all 32 ftypes, file size within 0.1 %`, () => {
    const src = new GgufSource(fx(path));
    try {
      const mm = mixModelFromSource(src);
      const layout = quantizedLayout(src.headers, imatrixKv(fx(imatrixPath), readImatrix(fx(imatrixPath))));
      let worst = 0;
      for (const ftype of FTYPES) {
        const rows = ROWS.filter((r) => r.model === model && r.ftype === ftype);
        const fileRow = rows.find((r) => r.tensor === "(file)");
        assert.ok(fileRow, `${ftype}: (file) row`);
        const tensorRows = rows.filter((r) => r.tensor !== "(file)");
        const got = new Map(sizedMix(ftype, mm, { hasImatrix: true }).map((a) => [a.tensor, a]));
        assert.equal(got.size, tensorRows.length, `${ftype}: tensor count`);
        for (const r of tensorRows) {
          const a = got.get(r.tensor);
          assert.ok(a, `${ftype} ${r.tensor}: missing`);
          assert.equal(a.type, r.type, `${ftype} ${r.tensor}: type (${a.reason})`);
          assert.equal(a.shape.join("x"), r.ne, `${ftype} ${r.tensor}: shape`);
          assert.equal(a.bytes, r.bytes, `${ftype} ${r.tensor}: bytes`);
          checkedRows++;
        }
        const size = quantizedFileSize(layout, [...got.values()].map((a) => a.bytes));
        const rel = Math.abs(size - fileRow.bytes) / fileRow.bytes;
        worst = Math.max(worst, rel);
        assert.ok(rel <= 1e-3, `${ftype}: file size ${size} vs ${fileRow.bytes} (${(rel * 100).toFixed(4)} %)`);
        // Stronger than 0.1 %: only the --imatrix path string (stored verbatim, not known here) may differ,
        // which can move the data start by at most one alignment unit.
        assert.ok(Math.abs(size - fileRow.bytes) <= layout.alignment, `${ftype}: file size ${size} vs ${fileRow.bytes}`);
        checkedRows++;
      }
      console.log(`${model}: worst file-size deviation ${(worst * 100).toFixed(4)} %`);
    } finally {
      src.close();
    }
  });
}

test("all 3,904 CSV rows were checked", () => {
  assert.equal(checkedRows, 3904);
});

// The only difference --imatrix makes on these two models, per llama.cpp's rules: IQ3_XXS ffn_down
// (no imatrix: Q4_K in the first eighth of the layers, Q3_K elsewhere). On moe-tiny (4 layers,
// n/8 = 0) and tinyqwen (6 layers, n/8 = 0) no layer is in the first eighth; attn_v's imatrix rule
// needs n_gqa < 4 (tinyqwen has 4, and moe-tiny has 8 experts, so its attn_v is Q8_0).
test("hasImatrix: false differs from llama-quantize's --imatrix output exactly at IQ3_XXS ffn_down", () => {
  for (const [model, path] of MODELS) {
    const src = new GgufSource(fx(path));
    try {
      const mm = mixModelFromSource(src);
      for (const ftype of FTYPES) {
        const csv = new Map(ROWS.filter((r) => r.model === model && r.ftype === ftype).map((r) => [r.tensor, r.type]));
        for (const a of standardMix(ftype, mm, { hasImatrix: false })) {
          const want = ftype === "IQ3_XXS" && a.tensor.includes("ffn_down") ? "Q3_K" : csv.get(a.tensor);
          assert.equal(a.type, want, `${model} ${ftype} ${a.tensor} without imatrix`);
        }
      }
    } finally {
      src.close();
    }
  }
});

// The quantized fixtures, to the byte: the rules' types and plan/mix-size.ts's layout against the real files.
// (tinyqwen's were made from its F32 weights, whose GGUF has the same KVs and tensor names as the F16 one.)
const FILES: Array<[string, string, string, string | null, string | null]> = [
  ["models/tinyqwen-Q4_K_M.gguf", "models/tinyqwen-f16.gguf", "Q4_K_M", null, null],
  ["models/tinyqwen-Q2_K.gguf", "models/tinyqwen-f16.gguf", "Q2_K", null, null],
  ["models/stories260K-Q4_K_M.gguf", "models/stories260K.gguf", "Q4_K_M", null, null],
  // models/README.md: made with `--imatrix ../imatrix/imatrix.gguf`.
  ["models/stories260K-Q4_K_M-imatrix.gguf", "models/stories260K.gguf", "Q4_K_M", "imatrix/imatrix.gguf", "../imatrix/imatrix.gguf"],
  // moe/README.md: "with that imatrix"; the path string it was given is not documented, so it is taken from
  // the file's quantize.imatrix.file (its length is the only thing the size depends on).
  ["moe/moe-tiny-Q4_K_M.gguf", "moe/moe-tiny-f16.gguf", "Q4_K_M", "moe/moe-tiny-imatrix.gguf", ""],
  ["moe/moe-tiny-IQ2_XXS.gguf", "moe/moe-tiny-f16.gguf", "IQ2_XXS", "moe/moe-tiny-imatrix.gguf", ""],
];
for (const [quantized, source, ftype, imatrixFile, givenPath] of FILES) {
  test(`file size of ${quantized} to the byte`, async () => {
    const { statSync } = await import("node:fs");
    const src = new GgufSource(fx(source));
    const q = new GgufSource(fx(quantized));
    try {
      const path = givenPath === "" ? String(q.metadata.get("quantize.imatrix.file")) : givenPath;
      const kv = imatrixFile ? imatrixKv(path!, readImatrix(fx(imatrixFile))) : undefined;
      const mix = sizedMix(ftype, mixModelFromSource(src), { hasImatrix: !!imatrixFile });
      const stored = new Map(q.tensors().map((t) => [t.name, t]));
      for (const a of mix) {
        assert.equal(a.type, stored.get(a.tensor)?.type, a.tensor);
        assert.equal(a.bytes, stored.get(a.tensor)?.byteSize, a.tensor);
      }
      assert.equal(quantizedFileSize(quantizedLayout(src.headers, kv), mix.map((a) => a.bytes)), statSync(fx(quantized)).size);
    } finally {
      src.close();
      q.close();
    }
  });
}
