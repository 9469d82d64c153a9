// The imatrix paths of Q4_1/Q5_1 search 8 blocks at once in SIMD lanes and the
// leftover blocks of a row one at a time; both must give the same block. With
// dyadic inputs the row's σ² is exact in any order, so rotating the blocks of
// a row moves one block from the scalar tail into a SIMD group without
// changing anything else it depends on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { quantize } from "../src/quant/index.js";

function rotateBlocks(a: Float32Array, nb: number): Float32Array {
  const out = new Float32Array(a.length);
  out.set(a.subarray((nb - 1) * 32), 0); // last block first
  out.set(a.subarray(0, (nb - 1) * 32), 32);
  return out;
}

for (const [type, blockBytes] of [["Q4_1", 20], ["Q5_1", 24], ["Q4_0", 18], ["Q5_0", 22]] as const) {
  test(`${type} imatrix: a block quantizes the same in a SIMD group and in the scalar tail`, () => {
    const nb = 9;
    let s = 12345;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 20; trial++) {
      const x = new Float32Array(nb * 32).map(() => Math.round((rnd() - 0.5) * 128) / 64);
      const w = new Float32Array(nb * 32).map(() => (rnd() < 0.1 ? 0 : Math.round(rnd() * 64) / 8));
      const a = quantize(type, x, 1, nb * 32, w); // block 8 is in the tail
      const b = quantize(type, rotateBlocks(x, nb), 1, nb * 32, rotateBlocks(w, nb)); // now block 0 of a group
      assert.deepEqual([...b.subarray(0, blockBytes)], [...a.subarray(8 * blockBytes)], `trial ${trial}`);
      assert.deepEqual([...b.subarray(blockBytes, 2 * blockBytes)], [...a.subarray(0, blockBytes)], `trial ${trial} block 0`);
    }
  });
}
