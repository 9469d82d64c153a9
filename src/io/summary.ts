// What `inspect` shows about a model or imatrix, computed from headers only
// (no tensor data is read).
import { bitsPerWeight, ggmlTypeByName } from "../ggml/types.js";
import { statSync } from "node:fs";
import { GgufSource } from "./gguf.js";
import type { Imatrix, SourceFormat, TensorSource } from "./source.js";
import { moeFacts } from "./experts.js";
import { expertTokenGroups, type ExpertTokenGroup } from "../analysis/imatrix/expert-tokens.js";

/** llama_ftype names (llama.h), as general.file_type stores them. */
const FILE_TYPES: Record<number, string> = {
  0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 7: "MOSTLY_Q8_0", 8: "MOSTLY_Q5_0", 9: "MOSTLY_Q5_1",
  10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S", 12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L", 14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M",
  16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K", 19: "MOSTLY_IQ2_XXS", 20: "MOSTLY_IQ2_XS", 21: "MOSTLY_Q2_K_S",
  22: "MOSTLY_IQ3_XS", 23: "MOSTLY_IQ3_XXS", 24: "MOSTLY_IQ1_S", 25: "MOSTLY_IQ4_NL", 26: "MOSTLY_IQ3_S", 27: "MOSTLY_IQ3_M",
  28: "MOSTLY_IQ2_S", 29: "MOSTLY_IQ2_M", 30: "MOSTLY_IQ4_XS", 31: "MOSTLY_IQ1_M", 32: "MOSTLY_BF16", 36: "MOSTLY_TQ1_0",
  37: "MOSTLY_TQ2_0", 38: "MOSTLY_MXFP4_MOE",
};

export interface TensorSummary {
  name: string;
  originalName: string;
  shape: number[];
  type: string;
  elements: number;
  bpw: number;
  byteSize: number;
  /** Fraction of all tensor bytes. */
  share: number;
}

export interface ModelSummary {
  path: string;
  format: SourceFormat;
  version?: number;
  shards: number;
  architecture?: string;
  name?: string;
  key: {
    layers?: number; embedding?: number; feedForward?: number; heads?: number; headsKv?: number;
    context?: number; vocab?: number; fileType?: string;
  };
  metadataCount: number;
  tensors: TensorSummary[];
  byType: Record<string, { count: number; bytes: number; elements: number }>;
  totalElements: number;
  tensorBytes: number;
  /** Bytes of the file(s), 0 when not a single file. */
  fileBytes: number;
  /** Tensor bits / weights. */
  bpw: number;
  /** Mixture-of-experts facts (absent for dense models). */
  moe?: {
    experts: number; expertsUsed?: number; sharedExperts?: number; expertFfn?: number;
    expertTensors: number; expertBytes: number; expertElements: number;
    /** expertBytes / tensorBytes. */
    expertShare: number;
  };
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
}

/** Total size of the distinct files the tensors live in (0 if unknown). */
function dataFileBytes(tensors: { file?: string }[]): number {
  let total = 0;
  for (const f of new Set(tensors.map((t) => t.file).filter((x): x is string => !!x))) {
    try {
      total += statSync(f).size;
    } catch {
      return 0;
    }
  }
  return total;
}

export function summarizeModel(src: TensorSource, fileBytes: number): ModelSummary {
  const md = src.metadata;
  const arch = typeof md.get("general.architecture") === "string" ? (md.get("general.architecture") as string) : undefined;
  const a = (k: string) => num(md.get(`${arch}.${k}`));
  const ft = num(md.get("general.file_type"));
  const tokens = md.get("tokenizer.ggml.tokens");
  const hf = (k: string) => num(md.get(k));
  const tensors = src.tensors();
  const tensorBytes = tensors.reduce((s, t) => s + t.byteSize, 0);
  const byType: ModelSummary["byType"] = {};
  let totalElements = 0;
  const rows: TensorSummary[] = tensors.map((t) => {
    const elements = t.rows * t.cols;
    totalElements += elements;
    const info = ggmlTypeByName(t.type);
    const bt = (byType[t.type] ??= { count: 0, bytes: 0, elements: 0 });
    bt.count++;
    bt.bytes += t.byteSize;
    bt.elements += elements;
    return {
      name: t.name, originalName: t.originalName, shape: t.shape, type: t.type, elements,
      bpw: info ? bitsPerWeight(info) : elements ? (t.byteSize * 8) / elements : 0,
      byteSize: t.byteSize, share: tensorBytes ? t.byteSize / tensorBytes : 0,
    };
  });
  const gguf = src instanceof GgufSource ? src : undefined;
  const m = moeFacts(src);
  const expertSet = new Set(m?.expertTensors);
  const moe = m && {
    experts: m.experts, expertsUsed: m.expertsUsed, sharedExperts: m.sharedExperts, expertFfn: m.expertFfn,
    expertTensors: m.expertTensors.length, expertBytes: m.expertBytes,
    expertElements: rows.filter((r) => expertSet.has(r.name)).reduce((a, r) => a + r.elements, 0),
    expertShare: tensorBytes ? m.expertBytes / tensorBytes : 0,
  };
  return {
    path: src.path,
    format: src.format,
    version: gguf?.headers[0]!.version,
    shards: gguf ? gguf.headers.length : 1,
    architecture: arch,
    name: typeof md.get("general.name") === "string" ? (md.get("general.name") as string) : undefined,
    key: {
      layers: a("block_count") ?? hf("num_hidden_layers"),
      embedding: a("embedding_length"),
      feedForward: a("feed_forward_length"),
      heads: a("attention.head_count"),
      headsKv: a("attention.head_count_kv"),
      context: a("context_length"),
      vocab: a("vocab_size") ?? (Array.isArray(tokens) ? tokens.length : undefined),
      fileType: ft !== undefined ? `${FILE_TYPES[ft] ?? "unknown"} (${ft})` : undefined,
    },
    metadataCount: md.size,
    tensors: rows,
    byType,
    totalElements,
    tensorBytes,
    fileBytes: gguf ? gguf.fileSize : dataFileBytes(tensors) || fileBytes,
    bpw: totalElements ? (tensorBytes * 8) / totalElements : 0,
    ...(moe ? { moe } : {}),
  };
}

export interface ImatrixSummary {
  path: string;
  format: "gguf" | "dat";
  datasets: string[];
  chunkCount?: number;
  chunkSize?: number;
  /** columns = values per expert; for MoE entries also the expert count and tokens per expert. */
  entries: { name: string; columns: number; count: number; experts?: number; counts?: number[] }[];
  /** Tokens per expert, grouped by layer (MoE GGUF imatrix only; empty otherwise). */
  expertTokens: ExpertTokenGroup[];
}

export function summarizeImatrix(im: Imatrix): ImatrixSummary {
  return {
    path: im.path, format: im.format, datasets: im.datasets, chunkCount: im.chunkCount, chunkSize: im.chunkSize,
    entries: [...im.entries.values()].map((e) => (e.experts
      ? { name: e.name, columns: e.values.length / e.experts, count: e.count, experts: e.experts, counts: e.counts }
      : { name: e.name, columns: e.values.length, count: e.count })),
    expertTokens: expertTokenGroups(im),
  };
}

/** Metadata made JSON-safe and short: bigints as strings, arrays longer than 16 as {array, length, first}. */
export function metadataForDisplay(md: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const show = (v: unknown): unknown => {
    if (typeof v === "bigint") return v.toString();
    if (Array.isArray(v)) return v.length > 16 ? { array: true, length: v.length, first: v.slice(0, 8).map(show) } : v.map(show);
    return v;
  };
  for (const [k, v] of md) out[k] = show(v);
  return out;
}
