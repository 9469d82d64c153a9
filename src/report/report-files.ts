// Writes a built report (src/pipeline/report.ts) to its files: one offline HTML file, and Markdown
// with its charts as SVG + PNG when asked.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Diagnosis } from "../analysis/diagnosis/diagnosis.js";
import type { ReportData } from "../analysis/diagnosis/model.js";
import { renderHtml } from "./html.js";
import { writeMarkdown } from "./markdown.js";

/** What the report files show: the evidence and its diagnosis. */
export interface ReportContent {
  readonly data: ReportData;
  readonly diagnosis: Diagnosis;
}

export interface WrittenReport {
  readonly htmlPath?: string;
  readonly htmlBytes?: number;
  readonly mdPath?: string;
  readonly images: string[];
}

export async function writeReport(r: ReportContent, out: { html?: string; md?: string; generatedAt?: string }): Promise<WrittenReport> {
  let htmlBytes: number | undefined;
  if (out.html) {
    const { html } = renderHtml(r.data, r.diagnosis, { generatedAt: out.generatedAt });
    mkdirSync(dirname(out.html), { recursive: true });
    writeFileSync(out.html, html);
    htmlBytes = Buffer.byteLength(html);
  }
  const images = out.md ? await writeMarkdown(r.data, r.diagnosis, out.md) : [];
  return { htmlPath: out.html, htmlBytes, mdPath: out.md, images };
}
