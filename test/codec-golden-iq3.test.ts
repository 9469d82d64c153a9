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

// Overflow territory, checked against llama.cpp's C (ggml-quants.c at 3f545bec,
// gcc 12.2 -O3 -DNDEBUG, quantize_iq3_* on this 256-value input): at scale 1e13
// it writes the bytes below (d = +inf); at 3e13 it aborts in
// iq3_find_best_neighbour (GGML_ASSERT: every distance overflows).
function lcgRow(scale: number): Float32Array {
  const x = new Float32Array(256);
  let s = 1;
  for (let i = 0; i < 256; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = Math.fround(Math.fround(Math.fround((s >>> 8) / 16777216) - 0.5) * Math.fround(scale));
  }
  return x;
}
const C_1E13: Record<string, string> = {
  IQ3_XXS:
    "007c000000000000000000000000000000000000000000000000000000000000000000000000000000004c000000000000000000000000000000000000000000" +
    "e300852ff002939f850ebb77c204f413af03b10b4906a4db8e06bc827e02d3574301",
  IQ3_S:
    "007c000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "000000000000000000055ec017923e9674bb6e09a674263c1cb11624b325b7bbb53c05fa9353ae8d0a00000000",
};
for (const type of ["IQ3_XXS", "IQ3_S"]) {
  test(`${type}: huge input: C's bytes while ggml copes, a clear error where ggml aborts`, () => {
    assert.equal(Buffer.from(quantize(type, lcgRow(1e13), 1, 256)).toString("hex"), C_1E13[type]);
    assert.throws(
      () => quantize(type, lcgRow(3e13), 1, 256),
      (e: Error) => e.name === "QuantscopeError" && /input too large .*llama\.cpp aborts/.test(e.message),
    );
    // the flag does not leak into the next call
    quantize(type, lcgRow(1), 1, 256);
  });
}
