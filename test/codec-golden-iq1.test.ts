// Every golden case of IQ1_S and IQ1_M: quantized bytes identical to
// llama.cpp's ggml_quantize_chunk, dequantized floats bit-identical to its
// to_float. IQ1_S requires an imatrix (ggml asserts one); IQ1_M does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGoldenCase, goldenCases, readGoldenF32 } from "./golden.js";
import { quantize, typeInfo } from "../src/quant/index.js";
import { KernelWorkspace } from "../src/quant/workspace.js";
import { closeQuantizePool, quantizeParallel } from "../src/quant/parallel.js";

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

test("IQ1_M: where ggml's neighbour search overflows float32 (llama.cpp aborts) the error names the block", () => {
  // without an imatrix the weights are x^2, so x ~ 1e15 makes every w*diff*diff +Inf
  const x = new Float32Array(2 * 512);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 1.7) * 0.02;
  for (let i = 512 + 256; i < 1024; i++) x[i] = Math.sin(i * 1.7) * 1e15;
  const want = /^IQ1_M: row 1, columns 256\.\.511: ggml's search finds no grid point with a finite error .* llama\.cpp aborts on this input$/;
  assert.throws(() => quantize("IQ1_M", x, 2, 512), (e: Error) => e.name === "QuantscopeError" && want.test(e.message));
  const ws = new KernelWorkspace(1 << 20);
  const xs = ws.floats(x.length);
  xs.set(x);
  assert.throws(() => ws.quantize("IQ1_M", xs, 2, 512, ws.bytes(2 * 2 * 56)), (e: Error) => e.name === "QuantscopeError" && want.test(e.message));
  // the first row alone is fine
  assert.equal(quantize("IQ1_M", x.subarray(0, 512), 1, 512).length, 2 * 56);
});

test("IQ1_S/IQ1_M: quantizeParallel == quantize, and the overflow error names the row of the whole tensor", async () => {
  const rows = 64, cols = 4096; // 256 Ki floats: enough to go parallel
  const x = new Float32Array(rows * cols).map((_, i) => Math.sin(i * 0.37) * 0.02 + Math.cos(i * 1.3) * 0.01);
  const im = new Float32Array(cols).map((_, i) => 1 + (i % 7));
  try {
    for (const type of ["IQ1_S", "IQ1_M"]) {
      const par = await quantizeParallel(type, x, rows, cols, im, 2);
      assert.ok(Buffer.from(par).equals(Buffer.from(quantize(type, x, rows, cols, im))), type);
    }
    for (let i = 0; i < 256; i++) x[40 * cols + 512 + i] = 1e15 * Math.sin(i);
    await assert.rejects(quantizeParallel("IQ1_M", x, rows, cols, undefined, 2), /^QuantscopeError: IQ1_M: row 40, columns 512\.\.767: ggml's search/);
  } finally {
    closeQuantizePool();
  }
});
