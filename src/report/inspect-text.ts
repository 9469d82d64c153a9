// Text for `quantscope inspect`: the model summary and tensor table, and for
// an imatrix the statistics table laid out exactly like
// llama-imatrix --show-statistics.
import { splitTensorName, type ImatrixStatistics } from "../analysis/imatrix/stats.js";
import { EXPERT_TOKEN_THRESHOLDS, type ExpertTokenGroup } from "../analysis/imatrix/expert-tokens.js";
import type { ImatrixSummary, ModelSummary } from "../io/summary.js";

// C printf's %.Nf rounds exact ties to even (JavaScript's toFixed rounds
// them away from zero), so numbers print exactly as llama.cpp prints them.
export function cFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? (Math.sign(x) < 0 ? "-nan" : "nan") : x < 0 ? "-inf" : "inf";
  const s = x.toFixed(digits);
  const long = x.toFixed(Math.min(100, digits + 60));
  const tail = long.slice(long.length - 60);
  if (tail[0] !== "5" || !/^50*$/.test(tail)) return s;
  // Exact tie: toFixed rounded away from zero; C rounds to the even neighbour.
  const lastDigit = Number(s[s.length - 1]);
  if (lastDigit % 2 === 0) return s;
  const truncated = long.slice(0, long.length - 60);
  return digits === 0 ? truncated.replace(/\.$/, "") : truncated;
}

/** Right-aligned in width (like %W.Nf). */
export function fw(x: number, width: number, digits: number): string {
  return cFixed(x, digits).padStart(width);
}

const STATS_HEADER = [" Layer", "       Tensor", "          Σ(Act²)", "  Min", "            Max", "           μ", "   σ", " % Active", "N", "   Entropy", "E (norm)", "ZD", "  CosSim"].join("\t");

/** The --show-statistics text; `label` is the file name as llama.cpp would print it. */
export function formatImatrixStatistics(stats: ImatrixStatistics, label: string): string {
  const out: string[] = ["", `Computing statistics for ${label} (${stats.tensors.length} tensors)`, "", STATS_HEADER, "=".repeat(169)];
  for (const t of stats.tensors) {
    out.push([
      t.layer.padStart(5), t.shortName.padEnd(20), fw(t.sum, 10, 2), fw(t.min, 8, 4), fw(t.max, 11, 4), fw(t.mean, 6, 2),
      fw(t.std, 6, 2), fw(Math.fround(t.active * 100), 8, 2) + "%", String(t.elements).padStart(6), fw(t.entropy, 10, 4),
      fw(t.entropyNorm, 6, 2) + "%", fw(Math.fround(100 * t.zd), 10, 2) + "%", fw(t.cossim, 8, 4),
    ].join("\t"));
  }
  out.push("", `Computing weighted average statistics per layer (${stats.layers.length} layers)`, "");
  out.push(["  Layer", "     μΣ(Act²)", "      μZD", "μCosSim"].join("\t"), "=".repeat(48));
  for (const l of stats.layers) {
    out.push([String(l.layer).padStart(5), fw(l.meanSum, 14, 2), fw(Math.fround(100 * l.meanZd), 10, 4) + "%", fw(l.meanCossim, 6, 4)].join("\t"));
  }
  return out.join("\n") + "\n\n";
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function table(rows: string[][], rightAlign: boolean[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (rightAlign[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd());
}

/** Model summary: format, architecture, key metadata, tensor table, totals. */
export function formatModelSummary(s: ModelSummary): string {
  const out: string[] = [];
  out.push(`${s.path}`);
  out.push(`  format:        ${s.format}${s.version !== undefined ? ` v${s.version}` : ""}${s.shards > 1 ? ` (${s.shards} shards)` : ""}`);
  if (s.architecture) out.push(`  architecture:  ${s.architecture}${s.name ? ` (${s.name})` : ""}`);
  const k = s.key;
  const dims: string[] = [];
  if (k.layers !== undefined) dims.push(`layers ${k.layers}`);
  if (k.embedding !== undefined) dims.push(`hidden ${k.embedding}`);
  if (k.feedForward !== undefined) dims.push(`ffn ${k.feedForward}`);
  if (k.heads !== undefined) dims.push(`heads ${k.heads}${k.headsKv !== undefined ? `/${k.headsKv} kv` : ""}`);
  if (k.context !== undefined) dims.push(`context ${k.context}`);
  if (k.vocab !== undefined) dims.push(`vocab ${k.vocab}`);
  if (dims.length) out.push(`  dims:          ${dims.join(", ")}`);
  if (k.fileType !== undefined) out.push(`  file type:     ${k.fileType}`);
  if (s.moe) {
    const m = s.moe;
    const parts = [`${m.experts}`];
    if (m.expertsUsed !== undefined) parts.push(`${m.expertsUsed} used per token`);
    if (m.sharedExperts) parts.push(`${m.sharedExperts} shared`);
    if (m.expertFfn !== undefined) parts.push(`expert FFN ${m.expertFfn}`);
    out.push(`  experts:       ${parts.join(", ")}`);
    out.push(`  expert share:  ${m.expertTensors} expert tensors hold ${(m.expertShare * 100).toFixed(1)}% of tensor bytes (${humanBytes(m.expertBytes)}, ${m.expertElements.toLocaleString("en-US")} weights)`);
  }
  out.push(`  metadata keys: ${s.metadataCount}`);
  out.push("");
  const rows: string[][] = [["tensor", "shape (ne0 x ne1)", "type", "bpw", "bytes", "share"]];
  for (const t of s.tensors) {
    rows.push([
      t.name === t.originalName ? t.name : `${t.name} (${t.originalName})`,
      t.shape.join(" x "), t.type, t.bpw.toFixed(2), String(t.byteSize), `${(t.share * 100).toFixed(2)}%`,
    ]);
  }
  out.push(...table(rows, [false, false, false, true, true, true]).map((l) => "  " + l));
  out.push("");
  const types = Object.entries(s.byType).sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([t, v]) => `${t} ${v.count} (${humanBytes(v.bytes)})`).join(", ");
  out.push(`  tensors:       ${s.tensors.length} (${types})`);
  out.push(`  weights:       ${s.totalElements.toLocaleString("en-US")}`);
  out.push(`  tensor bytes:  ${s.tensorBytes.toLocaleString("en-US")} (${humanBytes(s.tensorBytes)})${s.fileBytes > 0 ? ` of ${s.fileBytes.toLocaleString("en-US")} bytes on disk (${((s.tensorBytes / s.fileBytes) * 100).toFixed(1)}%)` : ""}`);
  out.push(`  overall bpw:   ${s.bpw.toFixed(4)}`);
  return out.join("\n") + "\n";
}

/** imatrix summary: datasets, chunks, per-entry token counts, then the statistics. */
export function formatImatrixSummary(s: ImatrixSummary, stats: ImatrixStatistics | undefined, label: string): string {
  const out: string[] = [`${s.path}`, `  format:        imatrix (${s.format === "gguf" ? "GGUF" : "legacy .dat"})`];
  out.push(`  datasets:      ${s.datasets.length ? s.datasets.join(", ") : "(none recorded)"}`);
  if (s.chunkCount !== undefined) out.push(`  chunks:        ${s.chunkCount}${s.chunkSize !== undefined ? ` x ${s.chunkSize} tokens` : ""}`);
  out.push(`  entries:       ${s.entries.length}`);
  out.push("");
  const unit = s.format === "gguf" ? "tokens" : "ncall";
  const moe = s.entries.some((e) => e.experts);
  const rows: string[][] = [["tensor", "columns", unit, ...(moe ? ["experts"] : [])]];
  for (const e of s.entries) rows.push([e.name, String(e.columns), String(e.count), ...(moe ? [e.experts ? String(e.experts) : ""] : [])]);
  out.push(...table(rows, [false, true, true, true]).map((l) => "  " + l));
  if (s.expertTokens.length) out.push("", ...formatExpertTokens(s.expertTokens));
  let text = out.join("\n") + "\n";
  if (stats) text += formatImatrixStatistics(stats, label);
  return text;
}

/** Tokens routed to each expert per layer, and a warning per layer for experts that saw few or none. */
export function formatExpertTokens(groups: ExpertTokenGroup[]): string[] {
  const out = ["  tokens per expert (MoE; an expert's importance vector is averaged over its tokens):"];
  for (const g of groups) {
    const short = g.tensors.map((t) => splitTensorName(t).shortName).join(", ");
    const n = g.counts.length;
    const list = n <= 16 ? g.counts.join(" ") : (() => {
      const sorted = [...g.counts].sort((a, b) => a - b);
      return `min ${sorted[0]}, median ${sorted[n >> 1]}, max ${sorted[n - 1]}`;
    })();
    out.push(`    blk ${g.layer} (${short}): ${list}`);
  }
  const warn: string[] = [];
  for (const g of groups) {
    const where = `blk ${g.layer} (${g.tensors.length === 1 ? g.tensors[0] : `${g.tensors.length} tensors`})`;
    if (g.none.length) {
      warn.push(`  warning: ${where}: expert${g.none.length === 1 ? "" : "s"} ${g.none.join(", ")} saw no tokens: no importance data (llama-quantize quantizes ${g.none.length === 1 ? "it" : "them"} unweighted, as without an imatrix)`);
    }
    if (g.few.length) {
      const ex = g.few.map((x) => `${x} (${g.counts[x]})`).join(", ");
      warn.push(`  warning: ${where}: expert${g.few.length === 1 ? "" : "s"} ${ex} saw fewer than ${Math.round(EXPERT_TOKEN_THRESHOLDS.fewTokensShare * 100)}% of an even share (${Math.round(g.evenShare)} tokens): ${g.few.length === 1 ? "its" : "their"} importance vector is noisy`);
    }
  }
  if (warn.length) out.push("", ...warn);
  return out;
}

/** Every metadata key, one per line. */
export function formatMetadata(md: Record<string, unknown>): string {
  const lines = ["", "  metadata:"];
  for (const [k, v] of Object.entries(md)) {
    const a = v as { array?: boolean; length?: number; first?: unknown[] };
    const text = a && typeof a === "object" && a.array ? `[${a.first!.map((x) => JSON.stringify(x)).join(", ")}, ...] (${a.length} items)` : JSON.stringify(v);
    lines.push(`    ${k} = ${text.length > 200 ? text.slice(0, 200) + "..." : text}`);
  }
  return lines.join("\n") + "\n";
}
