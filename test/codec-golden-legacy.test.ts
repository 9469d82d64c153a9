// Every golden case of the 12 non-K types: quantized bytes identical to
// llama.cpp's ggml_quantize_chunk, dequantized floats bit-identical.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases } from "./golden.js";
import { quantize, dequantize } from "../src/quant/index.js";

const TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4"];

for (const type of TYPES) {
  const cases = goldenCases(type);
  test(`golden ${type}: ${cases.length} cases`, () => {
    assert.equal(cases.length, 20, `${type} should have 20 golden cases`);
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

test("extra types without a codec are refused by name", () => {
  const x = new Float32Array(256);
  assert.throws(() => quantize("Q8_1", x, 1, 256), /type Q8_1 is not supported/);
  assert.throws(() => dequantize("q8_1", new Uint8Array(8 * 36), 1, 256), /type Q8_1 is not supported/);
  assert.throws(() => quantize("Q9_9", x, 1, 256), /unknown type "Q9_9"/);
});

test("golden helper reports a single flipped byte and a single flipped float bit", async () => {
  const { diffBlocks, diffFloats, readGoldenBytes, readGoldenF32 } = await import("./golden.js");
  const c = goldenCases("Q4_0")[0]!;
  const want = readGoldenBytes(c.quantized);
  const got = want.slice();
  got[18 * 5 + 3]! ^= 1;
  assert.match(diffBlocks(got, want, 18) ?? "", /^1 of 128 blocks differ; first: block 5, byte 3/);
  const f = readGoldenF32(c.dequantized);
  const g = f.slice();
  new Uint32Array(g.buffer)[7]! ^= 1;
  assert.match(diffFloats(g, f) ?? "", /1 of 4096 floats differ; first at index 7/);
  assert.equal(diffFloats(new Float32Array([NaN]), new Float32Array([NaN])), undefined);
});
