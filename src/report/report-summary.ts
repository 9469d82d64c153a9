// The terminal output of `report`: the top findings and where the files went.
import type { ReportContent, WrittenReport } from "./report-files.js";

const SEVERITY_MARK = { high: "!!", medium: "! ", info: "  " } as const;

export function summaryText(r: ReportContent, w: WrittenReport, seconds: number, maxFindings = 10): string {
  const lines: string[] = [];
  lines.push(`quantscope report: ${r.data.model} (${r.data.tensors.length} tensors)`);
  const top = [
    ...r.diagnosis.summary.filter((f) => f.tensor === "model"),
    ...r.diagnosis.experts.filter((f) => f.severity !== "info"),
    ...r.diagnosis.summary.filter((f) => f.tensor !== "model"),
    ...[...r.diagnosis.perTensor.values()].flat().filter((f) => f.severity === "medium"),
  ];
  const seen = new Set<string>();
  for (const f of top) {
    const key = `${f.tensor}|${f.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(` ${SEVERITY_MARK[f.severity]} ${f.tensor === "model" ? "" : `${f.tensor}: `}${f.text}`);
    if (seen.size >= maxFindings) break;
  }
  for (const n of r.data.notes.slice(0, 3)) lines.push(` note: ${n}`);
  if (w.htmlPath) lines.push(`HTML report: ${w.htmlPath} (${((w.htmlBytes ?? 0) / 1024).toFixed(0)} KiB)`);
  if (w.mdPath) lines.push(`Markdown: ${w.mdPath} (+${w.images.length} chart images)`);
  lines.push(`done in ${seconds.toFixed(1)} s`);
  return lines.join("\n") + "\n";
}
