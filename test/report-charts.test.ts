// Chart data reductions and specs: the downsampling keeps what matters, the
// coarsened heat-map grid equals the grid computed directly at that size, and
// every spec compiles with vega-lite and renders to SVG with marks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile } from "vega-lite";
import { blockErrors } from "../src/analysis/diagnosis/stats.js";
import { mergeRowBands, tensorCharts } from "../src/report/charts/tensor.js";
import { modelCharts } from "../src/report/charts/model.js";
import { detailFor, keepIndices } from "../src/report/charts/spec.js";
import { chartSvg } from "../src/report/report-render.js";
import { buildReport } from "../src/pipeline/report.js";

test("keepIndices keeps the head exactly, spreads the rest, ends at the last point", () => {
  assert.deepEqual(keepIndices(5, 2, 10), [0, 1, 2, 3, 4]);
  const k = keepIndices(1000, 10, 20);
  assert.deepEqual(k.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(k[k.length - 1], 999);
  assert.ok(k.length <= 31);
  for (let i = 1; i < k.length; i++) assert.ok(k[i]! > k[i - 1]!);
  assert.equal(detailFor(7), 1);
  assert.equal(detailFor(48), 0.5);
  assert.equal(detailFor(10_000), 0.15);
});

test("mergeRowBands equals the grid computed directly with wider bands (including a short last band)", () => {
  const rows = 100, cols = 64;
  const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37));
  const wq = Float32Array.from(w, (x, i) => x + 0.01 * Math.cos(i * 1.3) * (1 + (i % 7)));
  const fine = { type: "Q2_K", colBlock: 32, rowBand: 4, ...blockErrors(w, wq, rows, cols, 4, 32) };
  const merged = mergeRowBands(fine, rows, 8); // 25 bands -> k = 4 -> 16-row bands, 7 of them
  const direct = blockErrors(w, wq, rows, cols, 16, 32);
  assert.equal(merged.rowBand, 16);
  assert.equal(merged.nRowBands, direct.nRowBands);
  for (let i = 0; i < direct.mse.length; i++) assert.ok(Math.abs(merged.mse[i]! - direct.mse[i]!) < 1e-15, `cell ${i}`);
  assert.equal(mergeRowBands(fine, rows, 32), fine);
});

test("every chart of the bundled example compiles and renders server-side with marks", { timeout: 60_000 }, async () => {
  const built = buildReport(new URL("../examples/tinyqwen-blk0/", import.meta.url).pathname, { tensors: /attn_v|ffn_down/, outputTokens: 16 });
  const charts = [...modelCharts(built.data, built.diagnosis, { width: 500 }), ...built.data.tensors.flatMap((t) => tensorCharts(t, { width: 500 }))];
  assert.equal(charts.length, 3 + 2 * 4);
  assert.equal(new Set(charts.map((c) => c.id)).size, charts.length, "unique ids");
  for (const c of charts) {
    assert.ok(c.caption.length > 20 && !c.caption.includes("\n"), `${c.id}: a one-line caption`);
    compile(c.spec as never); // throws on an invalid spec
    const svg = await chartSvg(c.spec);
    const marks = svg.match(/class="mark-[a-z]+ role-mark/g) ?? [];
    assert.ok(marks.length > 0 && /<path|<line/.test(svg), `${c.id} drew marks`);
  }
});
