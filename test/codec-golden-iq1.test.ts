// Every golden case of IQ1_S and IQ1_M: quantized bytes identical to
// llama.cpp's ggml_quantize_chunk, dequantized floats bit-identical to its
// to_float. IQ1_S requires an imatrix (ggml asserts one); IQ1_M does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases, readGoldenF32 } from "./golden.js";
import { quantize, typeInfo } from "../src/quant/index.js";

const COUNTS: Record<string, number> = { IQ1_S: 8, IQ1_M: 14 };

for (const type of ["IQ1_S", "IQ1_M"]) {
  const cases = goldenCases(type);
  test(`${type}: has its ${COUNTS[type]} golden cases`, () => assert.equal(cases.length, COUNTS[type]));
  for (const c of cases) test(`golden ${c.name}`, () => checkGoldenCase(c));
}

test("IQ1_S requires an imatrix, IQ1_M does not", () => {
  assert.equal(typeInfo("iq1_s").imatrix, "required");
  assert.equal(typeInfo("iq1_m").imatrix, "optional");
  const x = readGoldenF32(goldenCases("IQ1_M")[0]!.input);
  assert.throws(
    () => quantize("IQ1_S", x, 8, 512),
    (e: Error) => e.name === "QuantscopeError" && e.message === "IQ1_S requires an importance matrix (imatrix)",
  );
  assert.equal(quantize("IQ1_M", x, 8, 512).length, 8 * 2 * 56);
});

test("IQ1_S/IQ1_M: NaN/Inf input and a row length that is not a multiple of 256 are clear errors", () => {
  const x = new Float32Array(2 * 512).fill(0.01);
  x[512 + 300] = Number.NaN;
  const im = new Float32Array(512).fill(1);
  for (const type of ["IQ1_S", "IQ1_M"]) {
    assert.throws(() => quantize(type, x, 2, 512, im), new RegExp(`${type}: input has NaN at row 1, column 300;`));
    assert.throws(() => quantize(type, new Float32Array(320), 1, 320, new Float32Array(320)), /row length 320 is not a multiple of the block size 256/);
  }
});
