// Every golden case of IQ2_XXS, IQ2_XS and IQ2_S: quantized bytes identical to
// llama.cpp's ggml_quantize_chunk, dequantized floats bit-identical.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases } from "./golden.js";
import { quantize, typeInfo } from "../src/quant/index.js";

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
