// Sweep metrics against independent computations on real tinyqwen tensors,
// sampling confidence intervals against the exact values, and the two-worker
// driver against the single-thread sweep.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel, roundTrip } from "../src/analysis/sweep/sweep.js";
import { sweepParallel } from "../src/analysis/sweep/parallel.js";
import { ActivationDir } from "../src/analysis/sweep/activations.js";
import { readF32Bin } from "../src/io/f32bin.js";
/** Plain triple loop, independent of the kernels under test. */
function naiveMatmul(x: Float32Array, T: number, n: number, W: Float32Array, m: number): Float64Array {
  const y = new Float64Array(T * m);
  for (let t = 0; t < T; t++) for (let o = 0; o < m; o++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x[t * n + j]! * W[o * n + j]!;
    y[t * m + o] = s;
  }
  return y;
}

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MODEL = fx("models/tinyqwen-f16.gguf");
const IMATRIX = fx("tinyqwen/imatrix.gguf");
const ACTS = fx("tinyqwen/seed-blk0/data");

test("exact metrics equal a from-scratch computation (blk.0.attn_v, blk.0.ffn_down; Q3_K with imatrix, activations)", () => {
  const src = openSource(MODEL);
  const im = readImatrix(IMATRIX);
  try {
    const res = sweepModel(src, { types: ["Q3_K"], imatrix: im, activations: new ActivationDir(ACTS), tensors: /^blk\.0\.(attn_v|ffn_down)\./ });
    assert.equal(res.records.length, 2);
    for (const r of res.records) {
      const W = src.read(r.tensor);
      const v = im.entries.get(r.tensor)!.values;
      const deq = roundTrip("Q3_K", W.data, W.rows, W.cols, v);
      const E = W.data.map((x, i) => x - deq[i]!);
      const n = E.length;
      const rmse = Math.sqrt(E.reduce((s, e) => s + e * e, 0) / n);
      const rms = Math.sqrt(W.data.reduce((s, w) => s + w * w, 0) / n);
      const sorted = Float64Array.from(E, Math.abs).sort();
      let imse = 0;
      for (let i = 0; i < n; i++) imse += v[i % W.cols]! * E[i]! ** 2;
      // output error straight from the matmuls: X·Eᵀ and X·Wᵀ
      const file = r.tensor.includes("ffn_down") ? "act_blk0_ffn_down_input.f32bin" : "act_blk0_attn_input.f32bin";
      const X = readF32Bin(`${ACTS}/${file}`, 0, 512);
      const XE = naiveMatmul(X.data, X.rows, X.cols, E, W.rows);
      const XW = naiveMatmul(X.data, X.rows, X.cols, W.data, W.rows);
      const rel = Math.sqrt(XE.reduce((s, y) => s + y * y, 0) / XW.reduce((s, y) => s + y * y, 0));
      const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b) + 1e-15, `${r.tensor} ${what}: ${a} vs ${b}`);
      close(r.rmse, rmse, "rmse");
      close(r.relRmse, rmse / rms, "relRmse");
      close(r.maxAbsErr, sorted[n - 1]!, "max");
      close(r.medianAbsErr, sorted[Math.ceil(0.5 * n) - 1]!, "median");
      close(r.p95AbsErr, sorted[Math.ceil(0.95 * n) - 1]!, "p95");
      close(r.imatrixMse!, imse / n, "imatrixMse");
      assert.equal(r.outputErrorSource, "activations");
      assert.ok(Math.abs(r.outputRelErr - rel) <= 1e-4 * rel, `${r.tensor} outputRelErr ${r.outputRelErr} vs ${rel}`);
      assert.equal(r.bytes, (W.rows * W.cols / 256) * 110);
      assert.ok(r.usedImatrix);
      assert.ok(r.sensitivity > 0);
    }
  } finally {
    src.close();
  }
});

test("--sample: 95 % intervals cover the exact values for most (tensor, type) pairs", () => {
  const src = openSource(MODEL);
  const im = readImatrix(IMATRIX);
  try {
    const common = { types: ["Q4_K", "Q6_K"], imatrix: im, tensors: /^blk\.[0-2]\./ } as const;
    const exact = sweepModel(src, common);
    const sampled = sweepModel(src, { ...common, sample: 0.25, seed: 7 });
    let covered = 0, total = 0;
    for (let i = 0; i < exact.records.length; i++) {
      const e = exact.records[i]!, s = sampled.records[i]!;
      assert.equal(s.tensor, e.tensor);
      assert.ok(s.sampleFraction < 0.3 && s.ci95, "sampled record has CIs");
      for (const k of ["rmse", "outputRelErr", "sensitivity"] as const) {
        const [lo, hi] = s.ci95![k];
        assert.ok(lo <= s[k] && s[k] <= hi, `${k} estimate inside its CI`);
        total++;
        if (lo <= e[k] && e[k] <= hi) covered++;
      }
    }
    assert.equal(total, 21 * 2 * 3);
    console.log(`coverage ${covered}/${total}`);
    assert.ok(covered / total >= 0.8, `coverage ${covered}/${total}`);
    // Same seed, same sample; another seed, another sample.
    const again = sweepModel(src, { ...common, sample: 0.25, seed: 7 });
    assert.deepEqual(again.records.map((r) => r.rmse), sampled.records.map((r) => r.rmse));
    const other = sweepModel(src, { ...common, sample: 0.25, seed: 8 });
    assert.notDeepEqual(other.records.map((r) => r.rmse), sampled.records.map((r) => r.rmse));
  } finally {
    src.close();
  }
});

test("two workers give exactly the single-thread records; stories260K fallbacks and skips are marked", async () => {
  const stories = fx("models/stories260K.gguf");
  const src = openSource(stories);
  try {
    const opts = { types: ["Q4_K", "Q8_0"] };
    const one = sweepModel(src, opts);
    const two = await sweepParallel(src, opts, { model: stories, jobs: 2, minWork: 0 });
    assert.deepEqual(two.records, one.records);
    const down = one.records.filter((r) => r.kind === "ffn_down");
    assert.equal(down.length, 10);
    for (const r of down) {
      if (r.requestedType === "Q4_K") { assert.equal(r.type, "F16"); assert.ok(r.fallback); }
      else assert.match(r.skipped ?? "", /no tensor type fallback/);
    }
    const q = one.records.find((r) => r.tensor === "blk.0.attn_q.weight" && r.requestedType === "Q4_K")!;
    assert.equal(q.type, "Q5_0");
    assert.equal(q.bytes, 64 * 64 / 32 * 22);
    // 1-D norms ride along as F32
    assert.equal(one.passengers.length, 11);
    assert.ok(one.passengers.every((p) => p.type === "F32"));
  } finally {
    src.close();
  }
});
