import { test } from "node:test";
import assert from "node:assert/strict";
import { readF32Bin, encodeF32Bin, validateF32BinHeader } from "../src/io/f32bin.js";

test("f32bin: encode then validate round-trips the header", () => {
  const m = { rows: 2, cols: 3, data: new Float32Array([1, 2, 3, 4, 5, 6]) };
  const buf = encodeF32Bin(m);
  assert.deepEqual(validateF32BinHeader("x", buf, buf.length), { rows: 2, cols: 3 });
  assert.throws(() => validateF32BinHeader("x", buf, buf.length - 1), /x: data at byte 16: truncated/);
});

test("f32bin: reads the bundled example", () => {
  const m = readF32Bin("examples/tinyqwen-blk0/blk_0_ffn_down_weight.f32bin");
  assert.equal(m.rows, 256);
  assert.equal(m.cols, 1024);
});
