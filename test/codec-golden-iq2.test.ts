// Every golden case of IQ2_XXS, IQ2_XS and IQ2_S: quantized bytes identical to
// llama.cpp's ggml_quantize_chunk, dequantized floats bit-identical; plus the
// tensors llama-quantize wrote as IQ2_XXS in a real (tiny MoE) model.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkGoldenCase, diffBlocks, goldenCases, readGoldenF32 } from "./golden.js";
import { quantize, typeInfo } from "../src/quant/index.js";
import { openSource, readImatrix } from "../src/io/source.js";
import { closeQuantizePool, quantizeParallel } from "../src/quant/parallel.js";

after(() => closeQuantizePool());

// IQ2_XXS and IQ2_XS require an imatrix in ggml: only imatrix cases exist.
const TYPES: ReadonlyArray<readonly [string, number]> = [["IQ2_XXS", 8], ["IQ2_XS", 8], ["IQ2_S", 14]];

for (const [type, count] of TYPES) {
  const cases = goldenCases(type);
  test(`golden ${type}: ${cases.length} cases`, () => {
    assert.equal(cases.length, count, `${type} should have ${count} golden cases`);
    const failures: string[] = [];
    for (const c of cases) {
      try {
        checkGoldenCase(c);
      } catch (e) {
        failures.push((e as Error).message.split("\n")[0]!);
      }
    }
    assert.deepEqual(failures, []);
  });
}

test("IQ2_XXS and IQ2_XS refuse to run without an imatrix (ggml_quantize_requires_imatrix); IQ2_S runs without", () => {
  const x = new Float32Array(256).fill(0.5);
  assert.throws(() => quantize("IQ2_XXS", x, 1, 256), /^.*IQ2_XXS requires an importance matrix \(imatrix\)$/);
  assert.throws(() => quantize("iq2_xs", x, 1, 256), /IQ2_XS requires an importance matrix \(imatrix\)/);
  assert.equal(typeInfo("IQ2_XXS").imatrix, "required");
  assert.equal(typeInfo("IQ2_XS").imatrix, "required");
  assert.equal(typeInfo("IQ2_S").imatrix, "optional");
  assert.equal(quantize("IQ2_S", x, 1, 256).length, 82);
});

test("IQ2 types reject NaN/Inf with row and column", () => {
  const x = new Float32Array(2 * 256).fill(0.01);
  x[256 + 9] = -Infinity;
  const im = new Float32Array(256).fill(1);
  for (const type of ["IQ2_XXS", "IQ2_XS", "IQ2_S"]) {
    assert.throws(() => quantize(type, x, 2, 256, im), new RegExp(`${type}: input has -Inf at row 1, column 9`));
  }
});

test("moe-tiny-IQ2_XXS.gguf: its 2-D IQ2 tensors re-quantize byte for byte from the F16 model with the imatrix", () => {
  const M = (f: string) => fileURLToPath(new URL(`../../shared/fixtures/moe/${f}`, import.meta.url));
  const f16 = openSource(M("moe-tiny-f16.gguf"));
  const q = openSource(M("moe-tiny-IQ2_XXS.gguf"));
  const im = readImatrix(M("moe-tiny-imatrix.gguf"));
  const checked: string[] = [];
  try {
    for (const t of q.tensors()) {
      // 3-D expert tensors are another codec path's business
      if (!t.type.startsWith("IQ2_") || t.shape.length !== 2) continue;
      const x = f16.read(t.name);
      const w = im.entries.get(t.name)?.values;
      assert.ok(w, `${t.name}: imatrix entry`);
      const got = quantize(t.type, x.data, x.rows, x.cols, w);
      const want = q.readRaw!(t.name);
      const d = diffBlocks(got, want, typeInfo(t.type).typeSize);
      assert.equal(d, undefined, `${t.name} (${t.type}): ${d}`);
      checked.push(t.name);
    }
  } finally {
    f16.close();
    q.close();
  }
  assert.deepEqual(checked, [0, 1, 2, 3].map((b) => `blk.${b}.attn_q.weight`));
});

test("IQ2 types: worker threads (each building its own tables) give the same bytes as one thread", async () => {
  // the golden real weights tiled to 256 x 1024: enough floats to use the pool
  const c = goldenCases("IQ2_XXS").find((g) => g.imatrix?.includes("real_stories260K"))!;
  const x0 = readGoldenF32(c.input);
  const im0 = readGoldenF32(c.imatrix!);
  const rows = 256, cols = 1024;
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = x0[i % x0.length]! * (1 + (i % 7) / 8);
  const im = new Float32Array(cols);
  for (let i = 0; i < cols; i++) im[i] = im0[i % im0.length]!;
  for (const type of ["IQ2_XXS", "IQ2_XS", "IQ2_S"]) {
    const want = quantize(type, x, rows, cols, im);
    const got = await quantizeParallel(type, x, rows, cols, im, 2);
    assert.equal(diffBlocks(got, want, typeInfo(type).typeSize), undefined, type);
  }
});
