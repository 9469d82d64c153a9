// Every golden case of IQ3_XXS and IQ3_S (with and without an imatrix):
// quantized bytes identical to llama.cpp's ggml_quantize_chunk, dequantized
// floats bit-identical to its to_float. Plus bad input, and the worker path
// (each worker builds its own grid tables).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases, readGoldenF32 } from "./golden.js";
import { quantize } from "../src/quant/index.js";
import { quantizeParallel, closeQuantizePool } from "../src/quant/parallel.js";

after(() => closeQuantizePool());

for (const type of ["IQ3_XXS", "IQ3_S"]) {
  const cases = goldenCases(type);
  // 6 distributions without an imatrix, the same 6 with the synthetic one,
  // gaussian with the zero-laden one, the real weights with the real imatrix
  test(`${type}: has its 14 golden cases`, () => assert.equal(cases.length, 14));
  for (const c of cases) test(`golden ${c.name}`, () => checkGoldenCase(c));

  test(`${type}: a row length that is not a multiple of 256 is a clear error`, () => {
    assert.throws(
      () => quantize(type, new Float32Array(2 * 320), 2, 320),
      (e: Error) => e.name === "QuantscopeError" && /row length 320 is not a multiple of the block size 256/.test(e.message),
    );
  });

  test(`${type}: NaN/Inf input is rejected with its row and column`, () => {
    const x = new Float32Array(3 * 512).fill(0.01);
    x[2 * 512 + 300] = Number.NEGATIVE_INFINITY;
    assert.throws(
      () => quantize(type, x, 3, 512),
      (e: Error) => e.name === "QuantscopeError" && new RegExp(`^${type}: input has -Inf at row 2, column 300;`).test(e.message),
    );
  });

  test(`${type}: quantizeParallel gives the same bytes (the golden real rows, tiled)`, async () => {
    const real = readGoldenF32("inputs/x_real_stories260K_blk0_ffn_gate_8x512.f32");
    const rows = 66, cols = 4096; // 270 336 floats: over the parallel threshold
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = real[i % real.length]! * (1 + (i % 7) * 0.125);
    const im = readGoldenF32("inputs/imatrix_synthetic_512.f32");
    const imatrix = new Float32Array(cols).map((_, i) => im[i % 512]!);
    for (const w of [undefined, imatrix]) {
      const single = quantize(type, x, rows, cols, w);
      const par = await quantizeParallel(type, x, rows, cols, w, 2);
      assert.ok(Buffer.from(par).equals(Buffer.from(single)), `bytes differ${w ? " (imatrix)" : ""}`);
    }
  });
}
