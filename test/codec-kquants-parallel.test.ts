// K-quants split across worker threads give the same bytes as one thread
// (rows are independent in both ggml paths; the imatrix applies per column).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { quantize } from "../src/quant/index.js";
import { quantizeParallel, closeQuantizePool } from "../src/quant/parallel.js";

after(() => closeQuantizePool());

function data(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s / 2 ** 32 - 0.5) * 0.04 * (i % 89 === 0 ? 25 : 1);
  }
  return x;
}

const rows = 13; // not a multiple of the thread count
const cols = 2048;
const x = data(rows * cols, 3);
const imatrix = data(cols, 5).map((v) => Math.abs(v) * 50);

for (const type of ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]) {
  for (const im of [false, true]) {
    test(`parallel ${type}${im ? " with imatrix" : ""}: same bytes as single-threaded`, async () => {
      const w = im ? imatrix : undefined;
      const single = quantize(type, x, rows, cols, w);
      const par = await quantizeParallel(type, x, rows, cols, w, 2);
      assert.ok(Buffer.from(par).equals(Buffer.from(single)), "bytes differ");
    });
  }
}
