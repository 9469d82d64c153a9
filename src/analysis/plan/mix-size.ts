// The size of the GGUF file llama-quantize writes, from the source file's
// header: the same tensor infos, the source's KV pairs (byte for byte, split.*
// keys removed) plus general.quantization_version and general.file_type (u32,
// replacing any old value) and, with --imatrix, quantize.imatrix.file /
// .dataset (strings cut at 127 bytes) / .entries_count / .chunks_count (u32);
// the metadata padded to the alignment, then every tensor's data padded to it.
import type { GgufHeader } from "../../io/gguf-header.js";
import type { Imatrix } from "../../io/source.js";

/** What llama-quantize copies from the imatrix into the output's metadata. */
export interface ImatrixKv {
  /** The path as given to --imatrix (stored verbatim). */
  readonly file: string;
  /** imatrix.datasets[0], if any. */
  readonly dataset?: string;
  /** Number of entries (imatrix_data.size()). */
  readonly entries: number;
  /** imatrix.chunk_count (the key is written only when > 0). */
  readonly chunks?: number;
}

export function imatrixKv(path: string, im: Imatrix): ImatrixKv {
  return { file: path, dataset: im.datasets[0], entries: im.entries.size, chunks: im.chunkCount };
}

/** Metadata layout of the quantized file. */
export interface QuantizedLayout {
  /** Bytes before the data section, unpadded (header, KVs, tensor infos). */
  readonly metaBytes: number;
  readonly alignment: number;
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
const kvU32 = (key: string) => 8 + utf8(key) + 4 + 4;
/** llama_model_kv_override.val_str is char[128]: strncpy(…, 127). */
const kvStr = (key: string, v: string) => 8 + utf8(key) + 4 + 8 + Math.min(127, utf8(v));

const DROPPED = new Set(["split.no", "split.count", "split.tensors.count"]);
const REPLACED = new Set(["general.quantization_version", "general.file_type"]);
const IMATRIX_KEYS = ["quantize.imatrix.file", "quantize.imatrix.dataset", "quantize.imatrix.entries_count", "quantize.imatrix.chunks_count"];

/** The quantized file's metadata size from the source's header (one-file GGUF; shards: the first shard's KVs, all tensors). */
export function quantizedLayout(headers: readonly GgufHeader[], imatrix?: ImatrixKv): QuantizedLayout {
  const h = headers[0]!;
  const tensors = headers.flatMap((x) => x.tensors);
  // Each KV's encoded size is the distance to the next KV (the last one ends where the tensor infos start).
  const end = h.tensors[0]?.infoOffset ?? h.dataOffset;
  let kv = 0;
  h.kvs.forEach((k, i) => {
    const size = (h.kvs[i + 1]?.offset ?? end) - k.offset;
    if (DROPPED.has(k.key) || REPLACED.has(k.key) || (imatrix && IMATRIX_KEYS.includes(k.key))) return;
    kv += size;
  });
  for (const k of REPLACED) kv += kvU32(k);
  if (imatrix) {
    kv += kvStr(IMATRIX_KEYS[0]!, imatrix.file);
    if (imatrix.dataset !== undefined) kv += kvStr(IMATRIX_KEYS[1]!, imatrix.dataset);
    kv += kvU32(IMATRIX_KEYS[2]!);
    if ((imatrix.chunks ?? 0) > 0) kv += kvU32(IMATRIX_KEYS[3]!);
  }
  const infos = tensors.reduce((s, t) => s + 8 + utf8(t.name) + 4 + 8 * t.shape.length + 4 + 8, 0);
  return { metaBytes: 4 + 4 + 8 + 8 + kv + infos, alignment: h.alignment };
}

const pad = (n: number, a: number) => Math.ceil(n / a) * a;

/** File size for the given per-tensor data sizes (every tensor of the file, in any order). */
export function quantizedFileSize(layout: QuantizedLayout, tensorBytes: Iterable<number>): number {
  let size = pad(layout.metaBytes, layout.alignment);
  for (const b of tensorBytes) size += pad(b, layout.alignment);
  return size;
}
