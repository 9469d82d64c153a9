// The Markdown report: the same findings and tables as the HTML, with the
// charts rendered server-side (vega View.toSVG, then resvg for PNG) into a
// folder beside the .md file, for pasting into an issue or a model card.
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { fmt, type Diagnosis, type Finding } from "../analysis/diagnosis/diagnosis.js";
import type { ReportData } from "../analysis/diagnosis/model.js";
import type { Chart } from "./charts/spec.js";
import { modelCharts } from "./charts/model.js";
import { tensorCharts } from "./charts/tensor.js";
import { renderChartImages } from "./report-render.js";
import { curveTable, expertsTable, klDisagreementTable, plansTable, rankingTable, tensorStatsTable, type Table } from "./report-tables.js";

const WIDTH = 640;
/** Per-tensor charts only for this many tensors (the most sensitive): a Markdown file is pasted, not browsed. */
export const MD_CHART_TENSORS = 8;

/** Escapes a table cell: pipes would split the cell, newlines end the row. */
function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

export function tableMarkdown(t: Table): string {
  const align = t.header.map((_, i) => (t.numeric?.[i] ? "---:" : "---"));
  return [
    `| ${t.header.map(cell).join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

function findingsMarkdown(fs: readonly Finding[], showTensor: boolean): string {
  if (fs.length === 0) return "_No finding crossed its threshold._";
  return fs.map((f) => `- **${f.severity}** ${showTensor && f.tensor !== "model" ? `\`${f.tensor}\`: ` : ""}${f.text} <sub>(${f.id}: ${fmt(f.value)} vs ${fmt(f.threshold)})</sub>`).join("\n");
}

/** Markdown anchor GitHub would generate for a heading (lower case, spaces -> '-', punctuation dropped). */
export function githubAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** Builds the Markdown text; `image(chart)` returns the Markdown for a chart's picture. */
export function renderMarkdown(data: ReportData, diag: Diagnosis, image: (c: Chart) => string): string {
  const out: string[] = [];
  out.push(`# quantscope report: ${data.model}`, "");
  out.push(`${data.tensors.length} tensors${data.imatrix ? ` · imatrix ${data.imatrix}` : ""}${data.modelFacts ? ` · model: ${data.modelFacts}` : ""}. Rules and thresholds behind every finding: docs/report.md.`, "");
  out.push("## Summary", "", findingsMarkdown(diag.summary, true), "");
  if (diag.ranking.length) out.push("### Most sensitive tensors", "", tableMarkdown(rankingTable(diag)), "");
  const kl = klDisagreementTable(data);
  if (kl) out.push("### Predicted vs measured KL", "", kl.caption, "", tableMarkdown(kl.table), "");
  const plans = plansTable(data);
  if (plans) out.push("### Plans and standard mixes", "", tableMarkdown(plans), "");
  for (const c of modelCharts(data, diag, { width: WIDTH })) out.push(`### ${c.title}`, "", image(c), "", `_${c.caption}_`, "");
  if (data.notes.length) out.push("### Notes", "", ...data.notes.map((n) => `- ${n}`), "");
  const et = expertsTable(data);
  if (et) {
    out.push("## Experts", "", `_Each expert of a 3-D expert tensor, quantized at ${data.experts![0]!.type} as llama-quantize does it (with its own imatrix slice)._`, "");
    out.push(findingsMarkdown(diag.experts, true), "", tableMarkdown(et), "");
  }
  out.push("## Tensors", "", ...data.tensors.map((t) => `- [${t.name}](#${githubAnchor(t.name)})`), "");
  const charted = new Set(data.tensors.length <= MD_CHART_TENSORS ? data.tensors.map((t) => t.name) : diag.ranking.slice(0, MD_CHART_TENSORS).map((r) => r.tensor));
  if (charted.size < data.tensors.length) out.push(`_Charts for the ${charted.size} most sensitive tensors; the HTML report has them for every tensor._`, "");
  for (const t of data.tensors) {
    out.push(`### ${t.name}`, "", findingsMarkdown(diag.perTensor.get(t.name) ?? [], false), "");
    out.push(tableMarkdown(tensorStatsTable(t)), "");
    const curve = curveTable(t);
    if (curve) out.push(tableMarkdown(curve), "");
    if (charted.has(t.name)) for (const c of tensorCharts(t, { width: WIDTH })) out.push(`**${c.title}**`, "", image(c), "", `_${c.caption}_`, "");
  }
  return out.join("\n");
}

/** Writes the .md and its chart folder (<name>-charts/ beside it); returns the image paths written. */
export async function writeMarkdown(data: ReportData, diag: Diagnosis, mdPath: string): Promise<string[]> {
  const dir = dirname(mdPath);
  const folder = `${basename(mdPath, extname(mdPath))}-charts`;
  mkdirSync(join(dir, folder), { recursive: true });
  const charts: Chart[] = [];
  const text = renderMarkdown(data, diag, (c) => {
    charts.push(c);
    const rel = `${folder}/${c.id}`;
    return `![${c.title}](${encodeURI(rel)}.png)  \n[SVG](${encodeURI(rel)}.svg)`;
  });
  const written: string[] = [];
  for (const c of charts) {
    const { svg, png } = await renderChartImages(c.spec);
    const base = join(dir, folder, c.id);
    writeFileSync(`${base}.svg`, svg);
    writeFileSync(`${base}.png`, png);
    written.push(`${base}.svg`, `${base}.png`);
  }
  writeFileSync(mdPath, text);
  return written;
}
