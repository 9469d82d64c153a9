// The common tensor-source interface every model reader implements, so the
// rest of quantscope can take "a model" without caring about its file format.
import type { Matrix } from "./f32bin.js";

export type { Matrix } from "./f32bin.js";

export type SourceFormat = "gguf" | "safetensors" | "npy" | "f32bin" | "study-dir";

export interface TensorInfo {
  /** GGUF-style name used everywhere in quantscope, e.g. "blk.0.ffn_down.weight". */
  name: string;
  /** Name in the file (HF name for safetensors; same as name for GGUF). */
  originalName: string;
  /** ggml order: ne0 (row length = input features) first. */
  shape: number[];
  /** Product of shape[1..] (1 for 1-D). */
  rows: number;
  /** shape[0]. */
  cols: number;
  /** ggml type name as in src/ggml/types.ts ("F32", "F16", "BF16", "Q4_K", ...). */
  type: string;
  /** Bytes in the file. */
  byteSize: number;
  /** Absolute file offset of the data, when it has one. */
  offset?: bigint;
  /** File holding the data (differs from the source path for sharded models). */
  file?: string;
}

export interface TensorSource {
  readonly path: string;
  readonly format: SourceFormat;
  /** GGUF KVs; safetensors __metadata__ etc. */
  readonly metadata: ReadonlyMap<string, unknown>;
  tensors(): TensorInfo[];
  /** Throws a clear error listing close names if absent. */
  tensor(name: string): TensorInfo;
  /**
   * Whole tensor, dequantized to float32 (rows x cols). With `into` (length >= rows*cols)
   * the result's data is a view of it: reuse one buffer to walk a model in bounded memory.
   */
  read(name: string, into?: Float32Array): Matrix;
  readRows(name: string, start: number, count: number, into?: Float32Array): Matrix;
  /**
   * Raw stored bytes of rows [start, start+count) (ggml blocks for quantized types).
   * Readers that support `into` read into it and return a view of it (reusing one
   * buffer avoids page-faulting a fresh allocation per call); others ignore it.
   */
  readRaw?(name: string, start?: number, count?: number, into?: Uint8Array): Uint8Array;
  close(): void;
}

export interface ImatrixEntry {
  name: string;
  /**
   * Per-column mean of x^2 = in_sum2/counts, float32 division, exactly the
   * importance vector llama-quantize builds. For an expert tensor (MoE) this
   * holds every expert's vector back to back: length cols x experts, expert e
   * at [e*cols, (e+1)*cols) (see expertImatrix in io/imatrix.ts); an expert
   * that saw no tokens gets 1 in every column, as llama-quantize sets it.
   */
  values: Float32Array;
  /**
   * Tokens the values were averaged over (GGUF: the counts tensor, summed over
   * experts). A legacy .dat does not store tokens: there this is ncall (chunks).
   */
  count: number;
  /** Number of expert matrices (the counts tensor has one count per expert); absent for dense weights. */
  experts?: number;
  /**
   * Tokens per expert (GGUF counts, rounded to integers as llama.cpp does), length `experts`;
   * for dense weights [count]. Absent on entries not made by readImatrix.
   */
  counts?: number[];
}

export interface Imatrix {
  path: string;
  format: "gguf" | "dat";
  entries: Map<string, ImatrixEntry>;
  datasets: string[];
  chunkCount?: number;
  chunkSize?: number;
}

export { openSource } from "./open.js";
export { readImatrix } from "./imatrix.js";
