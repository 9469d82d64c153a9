// The single-file HTML report: findings first, then the evidence. vega,
// vega-lite and vega-embed are inlined from the installed packages so the file
// opens offline; chart data is inline JSON, reduced server-side.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Diagnosis, Finding } from "../analysis/diagnosis/diagnosis.js";
import type { ReportData } from "../analysis/diagnosis/model.js";
import { modelCharts } from "./charts/model.js";
import { detailFor, slug, type Chart } from "./charts/spec.js";
import { tensorCharts } from "./charts/tensor.js";
import { curveTable, expertsTable, klDisagreementTable, plansTable, rankingTable, tensorStatsTable, type Table } from "./report-tables.js";
import { HTML_STYLE } from "./html-style.js";

const require = createRequire(import.meta.url);

/** Inlined in this order: vega-embed needs the other two as globals. */
const BUNDLES = ["vega", "vega-lite", "vega-embed"] as const;

/** The minified browser bundle of an installed package (found next to its main entry). */
export function browserBundle(pkg: (typeof BUNDLES)[number]): string {
  const file = join(dirname(require.resolve(pkg)), `${pkg}.min.js`);
  // A bundle must not end the <script> element it is inlined into.
  return readFileSync(file, "utf8").replace(/<\/script/gi, "<\\/script");
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** JSON safe inside <script>: no "<" at all. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export function tensorAnchor(name: string): string {
  return `t-${slug(name)}`;
}

function tableHtml(t: Table): string {
  const cls = (i: number): string => (t.numeric?.[i] ? ' class="num"' : "");
  return `<div class="table-wrap"><table><thead><tr>${t.header.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${t.rows
    .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table></div>`;
}

function findingsHtml(fs: readonly Finding[], showTensor: boolean): string {
  if (fs.length === 0) return `<p class="muted">No finding crossed its threshold.</p>`;
  return `<ul class="findings">${fs.map((f) => {
    const where = showTensor && f.tensor !== "model" ? `<a class="tref" href="#${tensorAnchor(f.tensor)}">${escapeHtml(f.tensor)}</a>: ` : "";
    return `<li class="sev-${f.severity}" title="rule ${escapeHtml(f.id)}: value ${f.value.toPrecision(4)} vs threshold ${f.threshold.toPrecision(4)}"><span class="badge">${f.severity}</span> ${where}${escapeHtml(f.text)}</li>`;
  }).join("")}</ul>`;
}

function chartHtml(c: Chart): string {
  return `<figure class="chart-box${c.wide ? " wide" : ""}"><div class="chart-title">${escapeHtml(c.title)}</div><div class="chart" id="c-${c.id}" data-chart="${c.id}"></div><figcaption class="caption">${escapeHtml(c.caption)}</figcaption></figure>`;
}

export interface HtmlReport {
  readonly html: string;
  readonly charts: Chart[];
}

export function renderHtml(data: ReportData, diag: Diagnosis, opts: { generatedAt?: string; bundles?: boolean } = {}): HtmlReport {
  const charts: Chart[] = [];
  const model = modelCharts(data, diag, { width: "container" });
  charts.push(...model);

  const worst = new Map<string, string>();
  for (const [t, fs] of diag.perTensor) worst.set(t, fs.find((f) => f.severity === "high") ? "high" : fs.find((f) => f.severity === "medium") ? "medium" : "info");

  const nav = `<nav id="nav" aria-label="Tensors"><a class="nav-top" href="#summary">Summary</a>${data.experts?.length ? `<a class="nav-top" href="#experts">Experts</a>` : ""}<ul>${data.tensors
    .map((t) => `<li><a href="#${tensorAnchor(t.name)}" data-tensor="${escapeHtml(t.name)}" class="sev-${worst.get(t.name)}"><span class="dot"></span>${escapeHtml(t.name)}</a></li>`)
    .join("")}</ul></nav>`;

  const plans = plansTable(data);
  const kl = klDisagreementTable(data);
  const summary = `<section id="summary"><h2>Summary</h2>${findingsHtml(diag.summary, true)}
${diag.ranking.length ? `<h3>Most sensitive tensors</h3>${tableHtml(rankingTable(diag))}` : ""}
${kl ? `<h3>Predicted vs measured KL</h3><p class="muted">${escapeHtml(kl.caption)}</p>${tableHtml(kl.table)}` : ""}
${plans ? `<h3>Plans and standard mixes</h3>${tableHtml(plans)}` : ""}
<div class="charts">${model.map(chartHtml).join("")}</div>
${data.notes.length ? `<h3>Notes</h3><ul class="notes">${data.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>` : ""}</section>`;

  const et = expertsTable(data);
  const experts = et ? `<section id="experts"><h2>Experts</h2><p class="muted">Each expert of a 3-D expert tensor, quantized at ${escapeHtml(data.experts![0]!.type)} as llama-quantize does it (with its own imatrix slice).</p>${findingsHtml(diag.experts, false)}${tableHtml(et)}</section>` : "";

  const sections = data.tensors.map((t) => {
    const tc = tensorCharts(t, { width: "container", detail: detailFor(data.tensors.length) });
    charts.push(...tc);
    const curve = curveTable(t);
    return `<section class="tensor" id="${tensorAnchor(t.name)}"><h2>${escapeHtml(t.name)}</h2>
${findingsHtml(diag.perTensor.get(t.name) ?? [], false)}
<details><summary>Numbers</summary>${tableHtml(tensorStatsTable(t))}${curve ? tableHtml(curve) : ""}</details>
<div class="charts">${tc.map(chartHtml).join("")}</div></section>`;
  }).join("\n");

  const specs = charts.map((c) => ({ id: c.id, spec: c.spec }));
  const bundles = opts.bundles === false ? "" : BUNDLES.map((p) => `<script>${browserBundle(p)}</script>`).join("\n");
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>quantscope report — ${escapeHtml(data.model)}</title>
<style>${HTML_STYLE}</style></head>
<body>
<header><h1>quantscope report</h1><p class="muted">${escapeHtml(data.model)} · ${data.tensors.length} tensors${data.imatrix ? ` · imatrix ${escapeHtml(data.imatrix)}` : ""}${data.modelFacts ? ` · model: ${escapeHtml(data.modelFacts)}` : ""}${opts.generatedAt ? ` · ${escapeHtml(opts.generatedAt)}` : ""}</p></header>
<div class="layout">${nav}<main>${summary}
${experts}
${sections}
<footer class="muted">Rules and thresholds behind every finding: docs/report.md. Charts: drag to pan, wheel to zoom, double-click to reset; hover for values.</footer></main></div>
${bundles}
<script type="application/json" id="qs-specs">${scriptJson(specs)}</script>
<script>${RENDER_SCRIPT}</script>
</body></html>
`;
  return { html, charts };
}

// Draws the charts one after another (keeps the page responsive), those near
// the viewport first; marks each container with data-rendered="ok" or "error",
// and the body with data-charts="done" when all are drawn.
const RENDER_SCRIPT = `
(function () {
  var queue = JSON.parse(document.getElementById("qs-specs").textContent);
  var near = new Set();
  var io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { if (e.isIntersecting) near.add(e.target.id); else near.delete(e.target.id); });
  }, { rootMargin: "600px 0px" }) : null;
  queue.forEach(function (s) { var el = document.getElementById("c-" + s.id); if (io && el) io.observe(el); });
  function next() {
    if (queue.length === 0) { if (io) io.disconnect(); document.body.setAttribute("data-charts", "done"); return; }
    var k = 0;
    for (var i = 0; i < queue.length; i++) if (near.has("c-" + queue[i].id)) { k = i; break; }
    var s = queue.splice(k, 1)[0];
    var el = document.getElementById("c-" + s.id);
    if (io) io.unobserve(el);
    vegaEmbed(el, s.spec, { actions: false, renderer: "svg" })
      .then(function () { el.setAttribute("data-rendered", "ok"); })
      .catch(function (e) { el.setAttribute("data-rendered", "error"); el.textContent = "chart failed: " + e; console.error("chart " + s.id + " failed: " + e); })
      .then(function () { setTimeout(next, 0); });
  }
  setTimeout(next, 0);
  var links = document.querySelectorAll("#nav a[data-tensor]");
  function mark() {
    var id = decodeURIComponent(location.hash.slice(1));
    links.forEach(function (a) { a.classList.toggle("current", a.getAttribute("href") === "#" + id); });
  }
  window.addEventListener("hashchange", mark); mark();
})();
`;
