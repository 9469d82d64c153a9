// Stored tensor bytes -> float32: float formats directly (exact), anything
// else through the codec registry, which names unsupported types clearly.
import { dequantize } from "../quant/index.js";
import { fileError, isQuantscopeError } from "./errors.js";
import { bf16FromBytes, f16FromBytes, f32FromBytes } from "./float-convert.js";
import type { TensorInfo } from "./source.js";

export function decodeTensorBytes(type: string, bytes: Uint8Array, rows: number, cols: number, where?: { path: string; tensor: TensorInfo }): Float32Array {
  switch (type) {
    case "F32": return f32FromBytes(bytes);
    case "F16": return f16FromBytes(bytes);
    case "BF16": return bf16FromBytes(bytes);
  }
  try {
    return dequantize(type, bytes, rows, cols);
  } catch (e) {
    // The registry's errors ("type X is not supported") do not know the file; add it.
    if (where && isQuantscopeError(e) && e.file === undefined) {
      throw fileError(where.tensor.file ?? where.path, `tensor "${where.tensor.name}": ${e.message}`, where.tensor.offset, `tensor "${where.tensor.name}" type`);
    }
    throw e;
  }
}
