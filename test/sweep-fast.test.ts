// The sweep's WASM error pass (src/analysis/sweep/fast.ts) against the
// TypeScript reference (tensorContext + rowSums + measure in src/analysis/sweep/sweep.ts, which
// test/sweep-metrics.test.ts checks against from-scratch computations):
// every record must be identical, field for field, bit for bit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { measure, rowSums, sweepableTensors, tensorContext, layerCount, type SweepOptions } from "../src/analysis/sweep/sweep.js";
import { fastPathBytes, sweepTensorFast } from "../src/analysis/sweep/fast.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q4_0", "IQ4_XS", "F16"];

function compare(model: string, opts: SweepOptions, filter: RegExp): number {
  const src = openSource(model);
  try {
    const { swept } = sweepableTensors(src, filter);
    const nLayers = layerCount(src);
    let n = 0;
    swept.forEach((name, i) => {
      const fast = sweepTensorFast(src, name, nLayers, opts, i, TYPES);
      assert.ok(fast, `${name}: the fast path declined`);
      const ctx = tensorContext(src, name, nLayers, opts, i);
      const sums = rowSums(ctx);
      const ref = TYPES.map((t) => measure(ctx, t, sums));
      assert.deepStrictEqual(fast, ref, name);
      n += ref.length;
    });
    return n;
  } finally {
    src.close();
  }
}

test("fast path == reference: tinyqwen F16, exact, with and without the imatrix", () => {
  const im = readImatrix(fx("tinyqwen/imatrix.gguf"));
  const filter = /^(blk\.[05]\.|output|token_embd)/;
  assert.ok(compare(fx("models/tinyqwen-f16.gguf"), { imatrix: im }, filter) >= 9 * 16);
  compare(fx("models/tinyqwen-f16.gguf"), {}, /^blk\.0\./);
});

test("fast path == reference: tinyqwen, --sample 0.25 (seeded rows, CIs)", () => {
  const im = readImatrix(fx("tinyqwen/imatrix.gguf"));
  compare(fx("models/tinyqwen-f16.gguf"), { imatrix: im, sample: 0.25, seed: 7 }, /^blk\.[12]\./);
});

test("fast path == reference: stories260K (64-wide rows: fallbacks and skipped types)", () => {
  compare(fx("models/stories260K.gguf"), {}, /^blk\.0\./);
});

test("slabbed fast path (memory cap forcing slabs of a few rows, two passes per type) == reference, dense and MoE", () => {
  const im = readImatrix(fx("tinyqwen/imatrix.gguf"));
  const src = openSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const { swept } = sweepableTensors(src, /^blk\.1\.(attn_k|ffn_down)\./);
    for (const opts of [{ imatrix: im }, { imatrix: im, sample: 0.5, seed: 3 }] as SweepOptions[]) {
      swept.forEach((name, i) => {
        const t = src.tensor(name);
        // room for ~40 rows of W and |E|: several slabs, slab edges inside chunks' natural ranges
        const cap = fastPathBytes(t.rows, t.cols, 1, 40);
        const slabbed = sweepTensorFast(src, name, 6, opts, i, ["Q4_K", "Q6_K", "Q8_0"], undefined, undefined, cap);
        const whole = sweepTensorFast(src, name, 6, opts, i, ["Q4_K", "Q6_K", "Q8_0"]);
        assert.ok(slabbed && whole);
        assert.deepStrictEqual(slabbed, whole, name);
        const ctx = tensorContext(src, name, 6, opts, i);
        assert.deepStrictEqual(slabbed, ["Q4_K", "Q6_K", "Q8_0"].map((ty) => measure(ctx, ty, rowSums(ctx))), name);
      });
    }
  } finally {
    src.close();
  }
  const moe = openSource(fx("moe/moe-tiny-f16.gguf"));
  const mim = readImatrix(fx("moe/moe-tiny-imatrix.gguf"));
  try {
    const name = "blk.2.ffn_up_exps.weight";
    const t = moe.tensor(name);
    const cap = fastPathBytes(t.rows, t.cols, 8, 100); // slabs of ~100 rows across 256-row experts
    const slabbed = sweepTensorFast(moe, name, 4, { imatrix: mim }, 0, ["Q2_K", "Q5_K"], undefined, undefined, cap);
    const whole = sweepTensorFast(moe, name, 4, { imatrix: mim }, 0, ["Q2_K", "Q5_K"]);
    assert.ok(slabbed && whole);
    assert.deepStrictEqual(slabbed, whole);
  } finally {
    moe.close();
  }
});
