// Stored tensor bytes -> float32: float formats directly (exact), anything
// else through the codec registry, which names unsupported types clearly.
import { dequantize } from "../quant/index.js";
import { bf16FromBytes, f16FromBytes, f32FromBytes } from "./float-convert.js";

export function decodeTensorBytes(type: string, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  switch (type) {
    case "F32": return f32FromBytes(bytes);
    case "F16": return f16FromBytes(bytes);
    case "BF16": return bf16FromBytes(bytes);
    default: return dequantize(type, bytes, rows, cols);
  }
}
