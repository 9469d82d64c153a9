// The zero-copy workspace gives the same bytes and floats as the public API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KernelWorkspace } from "../src/quant/workspace.js";
import { quantize, dequantize, supportedTypes, quantizedSize, typeInfo } from "../src/quant/index.js";
import { goldenCases, readGoldenF32 } from "./golden.js";

test("workspace quantize/dequantize == public API for every type (golden inputs, with and without imatrix)", () => {
  const ws = new KernelWorkspace(8 * 1024 * 1024);
  const c = goldenCases("Q4_0").find((g) => g.distribution === "real_stories260K_blk0_ffn_gate" && g.imatrix)!;
  const x0 = readGoldenF32(c.input);
  const im = readGoldenF32(c.imatrix!);
  const x = ws.floats(x0.length);
  x.set(x0);
  const y = ws.floats(x0.length);
  for (const type of supportedTypes()) {
    const q = ws.bytes(quantizedSize(type, c.rows, c.cols));
    for (const w of [undefined, im]) {
      if (!w && typeInfo(type).imatrix === "required") {
        assert.throws(() => ws.quantize(type, x, c.rows, c.cols, q), /requires an importance matrix/);
        continue;
      }
      const want = quantize(type, x0, c.rows, c.cols, w);
      ws.quantize(type, x, c.rows, c.cols, q, w);
      assert.ok(Buffer.from(q).equals(Buffer.from(want)), `${type} ${w ? "imatrix" : ""}`);
      ws.dequantize(type, q, c.rows, c.cols, y);
      assert.ok(Buffer.from(y.buffer, y.byteOffset, y.byteLength).equals(Buffer.from(dequantize(type, want, c.rows, c.cols).buffer)), `${type} dequant`);
    }
  }
  x[5] = NaN;
  assert.throws(() => ws.quantize("Q4_0", x, c.rows, c.cols, ws.bytes(quantizedSize("Q4_0", c.rows, c.cols))), /NaN at row 0, column 5/);
  assert.throws(() => ws.quantize("Q8_0", x0, c.rows, c.cols, ws.bytes(quantizedSize("Q8_0", c.rows, c.cols))), /src is not an array of this workspace/);
  assert.throws(() => ws.floats(1 << 24), /workspace full/);
});
