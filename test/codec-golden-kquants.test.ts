// Every golden case of Q2_K..Q6_K: quantized bytes identical to llama.cpp's
// ggml_quantize_chunk, dequantized floats bit-identical to its to_float.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases } from "./golden.js";
import { quantize } from "../src/quant/index.js";

for (const type of ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]) {
  const cases = goldenCases(type);
  test(`${type}: has its 20 golden cases`, () => assert.equal(cases.length, 20));
  for (const c of cases) test(`golden ${c.name}`, () => checkGoldenCase(c));

  test(`${type}: a row length that is not a multiple of 256 is a clear error`, () => {
    assert.throws(
      () => quantize(type, new Float32Array(2 * 320), 2, 320),
      (e: Error) => e.name === "QuantscopeError" && /row length 320 is not a multiple of the block size 256/.test(e.message),
    );
  });
}
