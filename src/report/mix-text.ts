// Text and JSON for `quantscope mix`.
import type { MixSummaryResult } from "../analysis/plan/mix-summary.js";

export function formatMixText(m: MixSummaryResult): string {
  const out: string[] = [];
  out.push(`${m.model} as ${m.ftype} (llama_ftype ${m.ftypeId}), ${m.hasImatrix ? "with" : "without"} --imatrix`);
  out.push(`${"tensor".padEnd(32)} ${"shape".padEnd(14)} ${"type".padEnd(8)} ${"bpw".padStart(5)} ${"bytes".padStart(11)}  rule`);
  for (const a of m.tensors) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    out.push(
      `${a.tensor.padEnd(32)} ${a.shape.join("x").padEnd(14)} ${a.type.padEnd(8)} ${((8 * a.bytes) / n).toFixed(2).padStart(5)} ` +
      `${String(a.bytes).padStart(11)}  ${a.reason}`,
    );
  }
  out.push("");
  out.push(`by type: ${m.byType.map((t) => `${t.type} ${t.tensors} (${t.bytes} B)`).join(", ")}`);
  out.push(`tensors: ${m.tensors.length}, ${m.elements} weights, ${m.tensorBytes} bytes, ${m.bpw.toFixed(3)} bpw`);
  out.push(m.fileBytes !== null
    ? `file:    ${m.fileBytes} bytes (${(m.fileBytes / 2 ** 20).toFixed(2)} MiB) as llama-quantize writes it`
    : "file:    n/a (not a GGUF source: the GGUF header is unknown; tensor bytes above)");
  if (m.needImatrix.length) {
    out.push(`note: llama-quantize refuses ${m.ftype} without --imatrix: ${m.needImatrix.length} tensors need one (first: ${m.needImatrix[0]})`);
  }
  return out.join("\n") + "\n";
}

export function formatMixJson(m: MixSummaryResult): string {
  return JSON.stringify({
    model: m.model, ftype: m.ftype, ftypeId: m.ftypeId, hasImatrix: m.hasImatrix,
    tensors: m.tensors.map((a) => ({ tensor: a.tensor, type: a.type, bytes: a.bytes, ne: a.shape.join("x"), rule: a.reason })),
    byType: m.byType,
    totals: { tensors: m.tensors.length, elements: m.elements, tensorBytes: m.tensorBytes, bpw: m.bpw, fileBytes: m.fileBytes },
    needImatrix: m.needImatrix,
  }, null, 2) + "\n";
}
