// F16 -> f32 decoding (src/ggml/float-convert.ts): large arrays take the WASM SIMD kernel, small ones
// the lookup table; both must give every half value exactly (checked against halfToFloat's
// arithmetic), at any byte offset and length, including the kernel's scalar tail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { f16FromBytes, halfToFloat } from "../src/ggml/float-convert.js";

test("f16FromBytes: all 65,536 half values exact on the SIMD path (large input) and the table path (small)", () => {
  const n = 65536 * 3 + 5; // above the SIMD threshold, not a multiple of 8
  const bytes = new Uint8Array(2 * n + 1);
  for (let i = 0; i < n; i++) { const h = (i * 40503) & 0xffff; bytes[1 + 2 * i] = h & 0xff; bytes[2 + 2 * i] = h >> 8; }
  for (const src of [bytes.subarray(1), bytes.slice(1)]) { // odd and even byte offsets
    const big = f16FromBytes(src);
    assert.equal(big.length, n);
    for (let i = 0; i < n; i++) {
      const h = (i * 40503) & 0xffff, want = halfToFloat(h), got = big[i]!;
      if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `half 0x${h.toString(16)}: ${got}`);
      else assert.ok(Object.is(got, want), `half 0x${h.toString(16)}: ${got} vs ${want}`);
    }
    const small = f16FromBytes(src.subarray(0, 2 * 1000), new Float32Array(1000));
    for (let i = 0; i < 1000; i++) {
      const want = halfToFloat((i * 40503) & 0xffff);
      assert.ok(Number.isNaN(want) ? Number.isNaN(small[i]!) : Object.is(small[i], want));
    }
  }
});
