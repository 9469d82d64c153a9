// report --measure-kl: every record's single-tensor KL measured with the reference forward pass, the
// ranking and plans on measured KL, and predicted vs measured in a log-log scatter (HTML, drawn by
// Chromium) and a table of the worst disagreements (Markdown). Real data: stories260K, its imatrix and
// 256 of llama.cpp's recorded token ids; the measured KLs are recomputed here straight from the codecs
// and the forward pass, and the Spearman in the caption with this file's own rank code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { buildReport } from "../src/pipeline/report.js";
import { renderHtml } from "../src/report/html.js";
import { renderMarkdown } from "../src/report/markdown.js";
import { openSource, readImatrix } from "../src/io/source.js";
import { dequantize, quantize } from "../src/quant/index.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { measureKl, prepareKl } from "../src/model/forward/kl.js";
import { readTokens } from "../src/model/forward/tokens.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MODEL = fx("models/stories260K.gguf");
const IMATRIX = fx("imatrix/imatrix.gguf");
const TOKENS = fx("activations/tokens_ctx128.i32");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const built = buildReport(MODEL, {
  imatrix: IMATRIX, tensors: /^blk\.[01]\./, types: ["Q2_K", "Q4_K", "Q6_K"], outputTokens: 64,
  measureKl: { text: TOKENS, chunk: 128, tokens: "256" },
});

/** Spearman with average ranks for ties, written here (not the code under test). */
function rankCorrelation(a: number[], b: number[]): number {
  const ranks = (v: number[]) => {
    const r = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) {
      let less = 0, equal = 0;
      for (let j = 0; j < v.length; j++) { if (v[j]! < v[i]!) less++; else if (v[j] === v[i]) equal++; }
      r[i] = less + (equal - 1) / 2;
    }
    return r;
  };
  const ra = ranks(a), rb = ranks(b);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(ra), mb = mean(rb);
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < a.length; i++) { num += (ra[i]! - ma) * (rb[i]! - mb); da += (ra[i]! - ma) ** 2; db += (rb[i]! - mb) ** 2; }
  return num / Math.sqrt(da * db);
}

/** (tensor, effective type) pairs with both KLs > 0, from the records directly. */
function pairsFromRecords() {
  const seen = new Map<string, { tensor: string; type: string; pred: number; meas: number }>();
  for (const r of built.data.records) {
    if (r.skipped || !(r.measuredKl! > 0) || !(r.sensitivity > 0)) continue;
    if (!seen.has(`${r.tensor}|${r.type}`)) seen.set(`${r.tensor}|${r.type}`, { tensor: r.tensor, type: r.type, pred: r.sensitivity, meas: r.measuredKl! });
  }
  return [...seen.values()];
}

test("measured KL in the report equals the KL of the codec's round trip through the forward pass", () => {
  const src = openSource(MODEL);
  try {
    const im = readImatrix(IMATRIX);
    const hx = prepareKl(loadForwardModel(src), readTokens(TOKENS, 512, 256), 128);
    const recs = built.data.records.filter((r) => !r.skipped);
    assert.ok(recs.every((r) => r.measuredKl !== undefined && Number.isFinite(r.measuredKl)), "every record measured");
    for (const r of [recs[0]!, recs[Math.floor(recs.length / 2)]!, recs[recs.length - 1]!]) {
      const w = src.read(r.tensor);
      const deq = dequantize(r.type, quantize(r.type, w.data, w.rows, w.cols, im.entries.get(r.tensor)!.values), w.rows, w.cols);
      const kl = measureKl(hx, new Map([[r.tensor, deq]]));
      assert.ok(Math.abs(kl - r.measuredKl!) <= 1e-12 + 1e-9 * kl, `${r.tensor} ${r.type}: ${r.measuredKl} vs ${kl}`);
    }
  } finally {
    src.close();
  }
});

test("the ranking and plans use the measured KL and say so; the scatter holds every pair with its Spearman", () => {
  const d = built.diagnosis;
  assert.ok(d.ranking.length === 14 && d.ranking.every((r) => r.source === "measured"), "14 tensors ranked on measured KL");
  assert.match(d.ranking[0]!.scoreName, /^measured KL at /);
  assert.ok(built.data.plans.filter((p) => p.kind === "plan").every((p) => p.sources?.length === 1 && p.sources[0] === "measured"));
  const { charts } = renderHtml(built.data, d, { bundles: false });
  const scatter = charts.find((c) => c.id === "model-kl-scatter");
  assert.ok(scatter, "scatter chart present");
  const layers = scatter.spec.layer as Array<{ data: { values: Array<{ tensor?: string; type?: string; predicted: number; measured: number }> } }>;
  const points = layers[1]!.data.values;
  const pairs = pairsFromRecords();
  assert.ok(pairs.length >= 20, `${pairs.length} pairs`);
  assert.equal(points.length, pairs.length);
  for (const p of pairs) {
    const q = points.find((x) => x.tensor === p.tensor && x.type === p.type)!;
    assert.ok(Math.abs(q.measured / p.meas - 1) < 1e-3 && Math.abs(q.predicted / p.pred - 1) < 1e-3, `${p.tensor} ${p.type}`);
  }
  const rho = rankCorrelation(pairs.map((p) => p.pred), pairs.map((p) => p.meas));
  assert.ok(scatter.caption.includes(`Spearman ${rho.toFixed(3)}`), `${scatter.caption} vs ${rho}`);
  // y = x reference line spans all points
  const line = layers[0]!.data.values;
  const all = pairs.flatMap((p) => [p.pred, p.meas]);
  assert.ok(line[0]!.predicted <= Math.min(...all) && line[1]!.predicted >= Math.max(...all));
});

test("Markdown: the worst disagreements, largest |log10(predicted/measured)| first", () => {
  const md = renderMarkdown(built.data, built.diagnosis, () => "");
  const at = md.indexOf("### Predicted vs measured KL");
  assert.ok(at > 0);
  const rows = md.slice(at).split("\n").filter((l) => /^\| blk\./.test(l));
  const pairs = pairsFromRecords();
  const off = (p: { pred: number; meas: number }) => Math.abs(Math.log10(p.pred / p.meas));
  const worst = [...pairs].sort((a, b) => off(b) - off(a));
  assert.ok(rows.length >= 10, "ten rows");
  const first = rows[0]!.split("|").map((s) => s.trim());
  assert.equal(`${first[1]} ${first[2]}`, `${worst[0]!.tensor} ${worst[0]!.type}`);
  assert.equal(first[6], (worst[0]!.pred / worst[0]!.meas).toFixed(2));
});

test("HTML: Chromium draws the scatter (one symbol per pair, the y = x line)", { timeout: 120_000 }, async () => {
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  const work = mkdtempSync(join(tmpdir(), "qs-kl-scatter-"));
  mkdirSync(join(work, "profile"));
  const file = join(work, "report.html");
  writeFileSync(file, renderHtml(built.data, built.diagnosis).html);
  const ctx = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const errors: string[] = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("body[data-charts=done]", { timeout: 90_000 });
    const el = await page.$("#c-model-kl-scatter");
    assert.ok(el);
    assert.equal(await el.getAttribute("data-rendered"), "ok");
    const symbols = await page.$$eval("#c-model-kl-scatter svg g.mark-symbol.role-mark path", (p) => p.length);
    const lines = await page.$$eval("#c-model-kl-scatter svg g.mark-line.role-mark path", (p) => p.length);
    assert.equal(symbols, pairsFromRecords().length);
    assert.equal(lines, 1);
    await el.scrollIntoViewIfNeeded();
    mkdirSync(fileURLToPath(new URL("../artifacts/", import.meta.url)), { recursive: true });
    await el.screenshot({ path: fileURLToPath(new URL("../artifacts/report-kl-scatter.png", import.meta.url)) });
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    rmSync(work, { recursive: true, force: true });
  }
});
