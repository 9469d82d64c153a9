// Default mode: the fused fast path against the per-section functions, the
// group-quantizer seam against direct computations, threads vs one thread,
// and JSON round trip.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeF32Bin, readF32Bin } from "../src/io/f32bin.js";
import { fastWeightScan } from "../src/analysis/study/fast-weight-scan.js";
import { f32binChunks } from "../src/analysis/study/row-chunks.js";
import { rowGroupingFromSums, rowGrouping } from "../src/analysis/study/section7-row-grouping.js";
import { distributionStats } from "../src/analysis/study/section1-distribution.js";
import { rowVariability } from "../src/analysis/study/section2-rows.js";
import { groupStats } from "../src/analysis/study/section3-groups.js";
import { weightError, overallRmse } from "../src/analysis/study/weight-error.js";
import { columnShape, columnShapeChunks } from "../src/analysis/study/section6-error-power.js";
import { fastActivationScan, matrixChunks } from "../src/analysis/study/fast-activation-scan.js";
import { columnPower } from "../src/analysis/study/section5-power.js";
import { tokenTable, swigluDims } from "../src/analysis/study/section8-swiglu.js";
import { proxyQuantizer, quantizerFor } from "../src/analysis/study/group-quantizer.js";
import { assignLanes, folderSources, runStudy, runStudyParallel } from "../src/analysis/study/study.js";
import { formatStudyJson } from "../src/report/study-json.js";
import { dequantize, quantize, supportedTypes } from "../src/quant/index.js";

const example = fileURLToPath(new URL("../examples/tinyqwen-blk0/", import.meta.url));
const wPath = join(example, "blk_0_ffn_down_weight.f32bin");

/** Deep comparison of plain data, numbers within a relative tolerance. */
function close(a: unknown, b: unknown, rel: number, path = "$"): void {
  if (typeof a === "number" && typeof b === "number") {
    assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12), `${path}: ${a} vs ${b}`);
    return;
  }
  if (a && b && typeof a === "object") {
    const ka = Object.keys(a as object).sort(), kb = Object.keys(b as object).sort();
    assert.deepEqual(ka, kb, `${path}: keys`);
    for (const k of ka) close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], rel, `${path}.${k}`);
    return;
  }
  assert.equal(a, b, path);
}

test("fused weight scan equals the per-section functions", () => {
  const W = readF32Bin(wPath);
  const chunks = f32binChunks(wPath);
  const scan = fastWeightScan(chunks, {
    name: "ffn_down", file: "f", description: "d", withRowGrouping: true, withProxyError: true,
    rowGrouping: (a, b, c, d, e, f) => rowGroupingFromSums("ffn_down", W.cols, W.rows, a, b, c, d, e, f),
  })!;
  close(scan.s1, distributionStats("ffn_down", "f", "d", W), 1e-9);
  close(scan.s2, rowVariability("ffn_down", W), 1e-9);
  const we = weightError(W, proxyQuantizer());
  const s3 = groupStats("ffn_down", W, { rowLimit: null, seed: false, quantRmse: null, quantNote: null });
  close({ ...scan.s3, quantRmse: null, quantNote: null }, s3, 1e-6); // offsets are kept as float32 on one side
  close(scan.s7, rowGrouping("ffn_down", W, { rowLimit: null, seed: false, tensorStd: scan.s1.std }), 1e-9);
  close(Array.from(scan.proxyError!.colSse), Array.from(we.colSse), 1e-6);
  close(columnShapeChunks(chunks)([0, 5, 1023]), columnShape(W)([0, 5, 1023]), 1e-6);
});

test("fused weight scan stays exact when the first chunk mispredicts the percentile buckets", () => {
  // 1 MB chunks of 1024-column rows = 256 rows; the rows after the first 1024 live on another scale.
  const rows = 2500, cols = 1024;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.618) * (i < 1024 * cols ? 0.01 : 50) + (i < 1024 * cols ? 0 : 7);
  const dir = mkdtempSync(join(tmpdir(), "qs-chunks-"));
  const path = join(dir, "w.f32bin");
  writeFileSync(path, encodeF32Bin({ rows, cols, data }));
  const scan = fastWeightScan(f32binChunks(path), {
    name: "w", file: "f", description: "d", withRowGrouping: false, withProxyError: false,
    rowGrouping: (a, b, c, d, e, f) => rowGroupingFromSums("w", cols, rows, a, b, c, d, e, f),
  })!;
  close(scan.s1, distributionStats("w", "f", "d", { rows, cols, data }), 1e-9);
});

test("fused activation scan equals the per-section functions", () => {
  const A = readF32Bin(join(example, "act_blk0_ffn_down_input.f32bin"));
  const scan = fastActivationScan(matrixChunks(A), "a", "f", true)!;
  close(scan.s4, distributionStats("a", "f", "a", A), 1e-9);
  const p = columnPower(A, false);
  close(Array.from(scan.power.meanSquare), Array.from(p.meanSquare), 1e-9);
  close(scan.tokens, tokenTable(A, null), 1e-9);
  const d = swigluDims(A);
  close(Array.from(scan.dims!.negFrac), Array.from(d.negFrac), 1e-12);
  close(Array.from(scan.dims!.std), Array.from(d.std), 1e-6);
  close(scan.dims!.nearZeroFraction, d.nearZeroFraction, 1e-12);
});

test("streamed activation scan (several chunks) equals the per-section functions", () => {
  // 1 MB chunks of 1024-column rows = 256 tokens; tokens after the first 1024 live on another scale.
  const rows = 2100, cols = 1024;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.377) * (i < 1024 * cols ? 0.02 : 3) + (i % 7 === 0 ? 0 : 0.1);
  const dir = mkdtempSync(join(tmpdir(), "qs-achunks-"));
  const path = join(dir, "a.f32bin");
  writeFileSync(path, encodeF32Bin({ rows, cols, data }));
  const A = { rows, cols, data };
  const scan = fastActivationScan(f32binChunks(path), "a", "f", true)!;
  close(scan.s4, distributionStats("a", "f", "a", A), 1e-9);
  close(Array.from(scan.power.meanSquare), Array.from(columnPower(A, false).meanSquare), 1e-9);
  close(scan.tokens, tokenTable(A, null), 1e-9);
  const d = swigluDims(A);
  close(Array.from(scan.dims!.negFrac), Array.from(d.negFrac), 1e-12);
  close(scan.dims!.nearZeroFraction, d.nearZeroFraction, 1e-12);
});

test("lanes: largest job first to the least-loaded lane, a worker's start-up counted", () => {
  // hand-worked: 25→0, 25→1, 25→0 (tie: lane 0), then 10, 10, 3, 3 all to lane 1 (35, 45, 48 < 50, 51)
  assert.deepEqual(assignLanes([25, 25, 25, 10, 10, 3, 3], [0, 0]), [[0, 2], [1, 3, 4, 5, 6]]);
  // lane 1 starts 16 behind: 19→0, 8→1 (16 < 19), 5→0 (19 < 24), 5→0 (24 = 24: lane 0)
  assert.deepEqual(assignLanes([19, 8, 5, 5], [0, 16]), [[0, 2, 3], [1]]);
});

test("proxy quantizer reconstructs a hand-checked group", () => {
  // Group: -0.3, then 0.1·i. min = -0.3 (<= 0), max = 1.4, d = (1.4+0.3)/3; levels -0.3 + d·{0,1,2,3}.
  const g = Float32Array.from({ length: 16 }, (_, i) => (i === 0 ? -0.3 : 0.1 * (i - 1)));
  const out = new Float32Array(16);
  proxyQuantizer().roundTrip(g, 16, 0, 1, out);
  const mn = Math.fround(-0.3), mx = Math.fround(1.4), d = (mx - mn) / 3;
  const levels = [0, 1, 2, 3].map((q) => mn + q * d);
  for (let i = 0; i < 16; i++) {
    const nearest = levels.reduce((b, l) => (Math.abs(g[i]! - l) < Math.abs(g[i]! - b) ? l : b));
    assert.ok(Math.abs(out[i]! - nearest) < 1e-6, `element ${i}: ${out[i]} vs ${nearest}`);
  }
  // An all-positive group keeps min at 0 (Q2_K's min is never positive): levels 0, 2/3, 4/3, 2;
  // 1.0 sits exactly between 2/3 and 4/3 and goes up; 1.2 goes to 4/3.
  const pos = Float32Array.from({ length: 16 }, (_, i) => (i === 0 ? 1 : i === 1 ? 1.2 : 2));
  proxyQuantizer().roundTrip(pos, 16, 0, 1, out);
  assert.ok(Math.abs(out[0]! - 4 / 3) < 1e-6 && Math.abs(out[1]! - 4 / 3) < 1e-6 && Math.abs(out[15]! - 2) < 1e-6, `${out[0]} ${out[1]} ${out[15]}`);
});

for (const type of ["Q8_0", "Q4_0", "Q4_K", "Q2_K"]) {
  test(`--type ${type}: section 3's RMSE equals a direct quantize/dequantize of the whole tensor`, () => {
    // all four types are shipped codecs: "not registered" / "not supported" is a failure, not a skip
    assert.ok(supportedTypes().includes(type), `${type} is not registered`);
    const W = readF32Bin(wPath);
    const deq = dequantize(type, quantize(type, W.data, W.rows, W.cols), W.rows, W.cols);
    let s = 0;
    for (let i = 0; i < W.data.length; i++) s += (W.data[i]! - deq[i]!) ** 2;
    const direct = Math.sqrt(s / W.data.length);
    const r = runStudy({ weights: [{ key: "ffn_down", path: wPath, seedLabel: null, input: null }], activations: [] },
      { seedCompat: false, quantizer: quantizerFor(type) });
    const got = r.section3.tensors[0]!.quantRmse!;
    assert.ok(Math.abs(got - direct) <= 1e-9 * direct, `${got} vs ${direct}`);
    assert.equal(r.quantizer.name, type);
    assert.equal(overallRmse(weightError(W, quantizerFor(type))), got);
  });
}

test("two threads (the caller and a worker) give the same result as one thread; JSON round-trips", async () => {
  const opt = { seedCompat: false, quantizer: proxyQuantizer() };
  const one = runStudy(folderSources(example), opt);
  const two = await runStudyParallel(folderSources(example), opt, 2, 0);
  assert.deepEqual({ ...two, elapsedMs: 0 }, { ...one, elapsedMs: 0 });
  const json = formatStudyJson(one);
  assert.doesNotMatch(json, /NaN|Infinity/);
  assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(one)));
  // Every row is used in default mode, and section 9's correlation is reported when defined.
  assert.equal(one.section3.tensors.find((t) => t.name === "ffn_gate")!.rowsUsed, 1024);
  assert.equal(one.sampling.section3Rows, null);
  const s9 = one.section9.tensors.find((t) => t.name === "ffn_down")!;
  assert.equal(s9.superBlocks, 4);
  assert.notEqual(s9.correlation, null);
  assert.ok(s9.correlation !== 0);
});

test("section 9 correlation with 3 super-blocks is computed (the study required > 10)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-s9-"));
  const rows = 8, cols = 768, T = 6;
  const w = new Float32Array(rows * cols).map((_, i) => Math.sin(i * 0.37) * (1 + Math.floor((i % cols) / 256)));
  const a = new Float32Array(T * cols).map((_, i) => Math.cos(i * 0.11) * (1 + Math.floor((i % cols) / 256)));
  writeFileSync(join(dir, "w.f32bin"), encodeF32Bin({ rows, cols, data: w }));
  writeFileSync(join(dir, "a.f32bin"), encodeF32Bin({ rows: T, cols, data: a }));
  const r = runStudy({
    weights: [{ key: "ffn_down", path: join(dir, "w.f32bin"), seedLabel: null, input: "ffn_down_input (swiglu)" }],
    activations: [{ key: "ffn_down_input (swiglu)", path: join(dir, "a.f32bin") }],
  }, { seedCompat: false, quantizer: proxyQuantizer() });
  const s9 = r.section9.tensors[0]!;
  assert.equal(s9.superBlocks, 3);
  // Both power and error grow with the block index here: strongly positive.
  assert.ok(s9.correlation! > 0.9, String(s9.correlation));
});
