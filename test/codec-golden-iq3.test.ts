// Every golden case of IQ3_XXS and IQ3_S (with and without an imatrix):
// quantized bytes identical to llama.cpp's ggml_quantize_chunk, dequantized
// floats bit-identical to its to_float.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases } from "./golden.js";
import { quantize } from "../src/quant/index.js";

for (const type of ["IQ3_XXS", "IQ3_S"]) {
  const cases = goldenCases(type);
  // 6 distributions without an imatrix, 6 with the synthetic one, gaussian with
  // the zero-laden one, the real weights with the real imatrix
  test(`${type}: has its 14 golden cases`, () => assert.equal(cases.length, 14));
  for (const c of cases) test(`golden ${c.name}`, () => checkGoldenCase(c));
}
