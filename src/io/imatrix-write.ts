// Writes llama-imatrix's GGUF format: general.type = "imatrix", the datasets,
// chunk count and size, and per weight matrix `<name>.in_sum2` (F32, ne =
// [cols, experts]) and `<name>.counts` (F32, ne = [1, experts]), in sorted name
// order, as llama-imatrix's save_imatrix does. llama-quantize --imatrix reads it.
import { GgufValueType } from "./gguf-header.js";
import { encodeGguf, type GgufWriteTensor } from "./gguf-write.js";

export interface ImatrixWriteEntry {
  readonly name: string;
  /** Σ x² per column, experts concatenated (cols × experts). */
  readonly sums: Float32Array;
  /** Tokens per expert (one value for a dense matrix). */
  readonly counts: readonly number[];
}

export interface ImatrixWriteMeta {
  readonly datasets: readonly string[];
  readonly chunkCount: number;
  readonly chunkSize: number;
}

function f32Bytes(a: Float32Array): Uint8Array {
  const b = new Uint8Array(a.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i]!, true);
  return b;
}

export function encodeImatrixGguf(entries: readonly ImatrixWriteEntry[], meta: ImatrixWriteMeta): Buffer {
  const kvs = [
    { key: "general.type", type: GgufValueType.STRING, value: "imatrix" },
    { key: "imatrix.datasets", type: GgufValueType.ARRAY, arrayType: GgufValueType.STRING, value: [...meta.datasets] },
    { key: "imatrix.chunk_count", type: GgufValueType.UINT32, value: meta.chunkCount },
    { key: "imatrix.chunk_size", type: GgufValueType.UINT32, value: meta.chunkSize },
  ];
  const tensors: GgufWriteTensor[] = [];
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of sorted) {
    const nmat = e.counts.length;
    tensors.push({ name: `${e.name}.in_sum2`, shape: [e.sums.length / nmat, nmat], type: "F32", data: f32Bytes(e.sums) });
    tensors.push({ name: `${e.name}.counts`, shape: [1, nmat], type: "F32", data: f32Bytes(Float32Array.from(e.counts)) });
  }
  return encodeGguf(kvs, tensors);
}
