// The HTML report as a user sees it: Debian's Chromium (headless, driven by
// playwright-core) opens the report for the bundled example from file:// and
// checks that it needs no network, logs no errors, draws every chart, that the
// tensor navigation scrolls, and that a narrow window does not overflow.
// A screenshot is saved to artifacts/report-screenshot.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext } from "playwright-core";
import { buildReport } from "../src/pipeline/report.js";
import { renderHtml, tensorAnchor } from "../src/report/html.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--no-first-run", "--disable-sync", "--disable-quic",
];
const EXAMPLE = new URL("../examples/tinyqwen-blk0", import.meta.url).pathname;
const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;
// One build for both tests; few tokens for the measured output error (the page, not the numbers, is under test).
const built = buildReport(EXAMPLE, { outputTokens: 64 });

async function launch(profile: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    assert.fail(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 },
  });
}

test("report HTML: offline, no errors, every chart drawn, navigation scrolls, narrow window fits", { timeout: 120_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "qs-report-browser-"));
  const profile = join(work, "profile");
  mkdirSync(profile);
  const file = join(work, "report.html");
  const { html, charts } = renderHtml(built.data, built.diagnosis);
  writeFileSync(file, html);
  assert.equal(charts.length, 3 + 7 * 4, "ranking, Pareto and mixes, then 4 charts per tensor");

  const ctx = await launch(profile);
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const errors: string[] = [];
    const network: string[] = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => { if (!/^(file|data|blob):/.test(r.url())) network.push(r.url()); });

    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("body[data-charts=done]", { timeout: 90_000 });

    // Every chart container reports success and holds an SVG with drawn marks.
    const drawn = await page.$$eval(".chart", (els) => els.map((el) => ({
      id: el.getAttribute("data-chart"),
      state: el.getAttribute("data-rendered"),
      marks: el.querySelectorAll("svg g.role-mark path, svg g.role-mark text, svg g.role-mark line").length,
    })));
    assert.equal(drawn.length, charts.length, "one container per chart");
    for (const d of drawn) {
      assert.equal(d.state, "ok", `chart ${d.id} did not render`);
      assert.ok(d.marks > 0, `chart ${d.id} drew no marks`);
    }

    // Navigation: clicking the last tensor brings its section into view.
    const last = built.data.tensors[built.data.tensors.length - 1]!.name;
    const anchor = tensorAnchor(last);
    const before = await page.evaluate(() => window.scrollY);
    await page.click(`#nav a[data-tensor="${last}"]`);
    await page.waitForFunction((id) => {
      const r = document.getElementById(id)!.getBoundingClientRect();
      return r.top >= -2 && r.top < window.innerHeight / 2;
    }, anchor, { timeout: 10_000 });
    assert.ok((await page.evaluate(() => window.scrollY)) > before, "the page scrolled");
    assert.equal(await page.evaluate(() => location.hash), `#${anchor}`);

    // Tooltips: hovering a ranking bar shows vega's tooltip with the tensor's name.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(400);
    const bar = await page.$("#c-model-ranking svg g.mark-rect path");
    assert.ok(bar, "ranking bars are drawn");
    await bar.hover();
    const tip = await page.waitForSelector("#vg-tooltip-element.visible", { timeout: 5_000 });
    assert.match((await tip.textContent()) ?? "", /blk\.0\./);
    await page.mouse.move(0, 0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.waitForTimeout(400); // smooth scroll settles
    await page.screenshot({ path: join(ARTIFACTS, "report-screenshot.png") });

    // A narrow window: nothing wider than the viewport.
    await page.setViewportSize({ width: 400, height: 800 });
    // Charts re-fit their container on resize: wait (bounded) until nothing is wider than the window.
    const fits = await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth + 1, undefined, { timeout: 15_000 })
      .then(() => true, () => false);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(fits, `narrow window overflows by ${overflow}px`);
    const navHeight = await page.evaluate(() => document.getElementById("nav")!.getBoundingClientRect().height);
    assert.ok(navHeight < 80, `the nav becomes a strip in a narrow window (${navHeight}px high)`);
    await page.screenshot({ path: join(ARTIFACTS, "report-screenshot-narrow.png") });

    assert.deepEqual(errors, [], "console errors");
    assert.deepEqual(network, [], "network requests");
  } finally {
    await ctx.close();
    rmSync(work, { recursive: true, force: true });
  }
});

test("report HTML: a broken chart spec is caught (the browser check can fail)", { timeout: 60_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "qs-report-broken-"));
  const profile = join(work, "profile");
  mkdirSync(profile);
  const file = join(work, "broken.html");
  const { html } = renderHtml(built.data, built.diagnosis);
  // Corrupt one spec's mark type: vega-lite must reject it and the page must say so.
  writeFileSync(file, html.replace('"mark":{"type":"rect"', '"mark":{"type":"no-such-mark"'));
  const ctx = await launch(profile);
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const errors: string[] = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("body[data-charts=done]", { timeout: 30_000 });
    const states = await page.$$eval(".chart", (els) => els.map((el) => el.getAttribute("data-rendered")));
    assert.ok(states.includes("error"), "the corrupted chart is marked as failed");
    assert.ok(errors.some((e) => /failed/.test(e)), "and a console error is logged");
  } finally {
    await ctx.close();
    rmSync(work, { recursive: true, force: true });
  }
});
