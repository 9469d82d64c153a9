// Stored tensor bytes -> float32: float formats directly (exact), anything
// else through the codec registry, which names unsupported types clearly.
import { dequantize, dequantizeInto } from "../quant/index.js";
import { fileError, isQuantscopeError } from "./errors.js";
import { bf16FromBytes, f16FromBytes, f32FromBytes } from "../ggml/float-convert.js";
import type { TensorInfo } from "./source.js";
import type { PositionedFile } from "./file.js";

/** A fresh n-float array, or the first n floats of `into` (which must be long enough). */
export function outputBuffer(n: number, into?: Float32Array): Float32Array {
  if (!into) return new Float32Array(n);
  if (into.length < n) throw new RangeError(`output buffer holds ${into.length} floats, ${n} needed`);
  return into.subarray(0, n);
}

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

function decodeInto(t: TensorInfo, bytes: Uint8Array, rows: number, dst: Float32Array, path: string): void {
  try {
    dequantizeInto(t.type, bytes, rows, t.cols, dst);
  } catch (e) {
    if (isQuantscopeError(e) && e.file === undefined) {
      throw fileError(t.file ?? path, `tensor "${t.name}": ${e.message}`, t.offset, `tensor "${t.name}" type`);
    }
    throw e;
  }
}

/** Raw bytes read per step when decoding, so the raw copy never has to hold a whole tensor. */
const CHUNK_BYTES = 2 << 20;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// The raw chunk buffer is kept from call to call: a fresh 2 MiB buffer per tensor costs ~500 page faults
// (~10 µs each on this project's VMs), about as much as reading the bytes.
let rawKept: Uint8Array | undefined;
function rawBuffer(n: number): Uint8Array {
  if (!rawKept || rawKept.length < n) rawKept = new Uint8Array(Math.max(n, CHUNK_BYTES));
  return rawKept.subarray(0, n);
}

/**
 * Rows [start, start+count) of a tensor stored row-major at `dataPos` with
 * `rowBytes` per row, decoded to float32. F32 is read straight into the
 * result; other types are read and decoded in chunks of rows. With `into`,
 * the result is a view of that buffer (callers walking a model reuse one
 * buffer, so memory stays at one tensor instead of waiting for V8 to free each).
 */
export function readDecodedRows(
  file: PositionedFile, dataPos: number, rowBytes: number, start: number, count: number, t: TensorInfo, path: string,
  into?: Float32Array,
): Float32Array {
  const out = outputBuffer(count * t.cols, into);
  const field = `tensor "${t.name}" data`;
  if (t.type === "F32" && LITTLE_ENDIAN_HOST) {
    file.read(dataPos + start * rowBytes, count * rowBytes, field, new Uint8Array(out.buffer, out.byteOffset, count * rowBytes));
    return out;
  }
  const step = Math.max(1, Math.floor(CHUNK_BYTES / Math.max(1, rowBytes)));
  // One raw buffer reused for every chunk, decoded in place into the result: no per-chunk garbage.
  const raw = rawBuffer(Math.min(step, count) * rowBytes);
  for (let r = 0; r < count; r += step) {
    const n = Math.min(step, count - r);
    const chunk = file.read(dataPos + (start + r) * rowBytes, n * rowBytes, field, raw.subarray(0, n * rowBytes));
    const dst = out.subarray(r * t.cols, (r + n) * t.cols);
    if (t.type === "F32") f32FromBytes(chunk, dst); // big-endian hosts
    else if (t.type === "F16") f16FromBytes(chunk, dst);
    else if (t.type === "BF16") bf16FromBytes(chunk, dst);
    else decodeInto(t, chunk, n, dst, path);
  }
  return out;
}
