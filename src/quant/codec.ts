// The shape every quantization type has (cf. gguf-py's quants.py): one Codec
// per ggml type, registered in one Map (registry.ts).
import type { GgmlTypeInfo } from "../ggml/types.js";

/** How a type uses an importance matrix (per-column weights, length cols). */
export type ImatrixUse = "ignored" | "optional" | "required";

export interface Codec {
  readonly info: GgmlTypeInfo;
  readonly imatrix: ImatrixUse;
  /**
   * rows x cols float32 (row-major) -> ggml block bytes, rows concatenated,
   * exactly as ggml_quantize_chunk writes them. cols must be a multiple of
   * info.blockSize (checked by the caller, see index.ts).
   */
  quantize(src: Float32Array, rows: number, cols: number, imatrix?: Float32Array): Uint8Array;
  /** ggml block bytes -> float32, exactly as ggml's to_float. */
  dequantize(bytes: Uint8Array, rows: number, cols: number): Float32Array;
  /** Optional: quantize into a caller's buffer of exactly the output size (no allocation); returns it. */
  quantizeInto?(src: Float32Array, rows: number, cols: number, imatrix: Float32Array | undefined, out: Uint8Array): Uint8Array;
  /** Optional: dequantize into a caller's buffer of exactly rows * cols floats; returns it. */
  dequantizeInto?(bytes: Uint8Array, rows: number, cols: number, out: Float32Array): Float32Array;
}
