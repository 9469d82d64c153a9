// read(name, into) / readRows(..., into): the same floats as a fresh read, written
// into the caller's buffer (so a model can be walked with one buffer).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

for (const file of ["models/stories260K.gguf", "models/stories260K-Q8_0.gguf", "models/tinyqwen-Q4_K_M.gguf", "activations/blk_0_ffn_down_weight.f32bin"]) {
  test(`read into a reused buffer equals a fresh read: ${file}`, () => {
    const src = openSource(fx(file));
    try {
      const largest = Math.max(...src.tensors().map((t) => t.rows * t.cols));
      const buf = new Float32Array(largest + 7);
      const types = new Set<string>();
      for (const t of src.tensors()) {
        types.add(t.type);
        const fresh = src.read(t.name);
        const m = src.read(t.name, buf);
        assert.equal(m.data.buffer, buf.buffer, `${t.name}: result is a view of the caller's buffer`);
        assert.deepEqual(m.data, fresh.data, `${t.name} (${t.type})`);
        if (t.rows > 2) {
          const part = src.readRows(t.name, 1, 2, buf);
          assert.deepEqual(part.data, fresh.data.subarray(t.cols, 3 * t.cols), `${t.name} rows 1..3`);
        }
      }
      assert.ok(types.size > 0);
      const t0 = src.tensors()[0]!;
      assert.throws(() => src.read(t0.name, new Float32Array(t0.rows * t0.cols - 1)), RangeError);
    } finally {
      src.close();
    }
  });
}
