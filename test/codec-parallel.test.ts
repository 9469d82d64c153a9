// Multi-threaded quantization gives the same bytes as single-threaded.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { quantize } from "../src/quant/index.js";
import { quantizeParallel, closeQuantizePool } from "../src/quant/parallel.js";

after(() => closeQuantizePool());

function data(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = ((s / 2 ** 32) - 0.5) * 0.05 * (i % 97 === 0 ? 20 : 1);
  }
  return x;
}

const rows = 67; // not a multiple of the thread count
const cols = 8192;
const x = data(rows * cols, 7);
const imatrix = data(cols, 11).map((v) => Math.abs(v) * 100 + 0.01);

for (const [type, im] of [["Q4_0", false], ["Q4_0", true], ["Q8_0", false], ["IQ4_XS", true], ["F16", false]] as const) {
  test(`parallel ${type}${im ? " with imatrix" : ""}: same bytes as single-threaded`, async () => {
    const w = im ? imatrix : undefined;
    const single = quantize(type, x, rows, cols, w);
    const par = await quantizeParallel(type, x, rows, cols, w, 2);
    assert.equal(par.length, single.length);
    assert.ok(Buffer.from(par).equals(Buffer.from(single)), "bytes differ");
  });
}

test("parallel: NaN error names the row of the whole tensor", async () => {
  const y = x.slice();
  y[60 * cols + 5] = NaN;
  await assert.rejects(quantizeParallel("Q4_0", y, rows, cols, undefined, 2), /NaN at row 60, column 5/);
});
