// Whole tensors (2-D or 3-D expert tensors) quantized exactly as llama-quantize
// does it (src/llama-quant.cpp, llama_model_quantize_impl): a 3-D tensor
// ne = [cols, rows, experts] is quantized expert by expert, each ne1 x ne0 slice
// with its own slice of the importance vector (imatrix + e*ne0). For 2-D
// tensors this is one quantize() call. F32 (llama-quantize's "not quantized"
// output for norms and routers) is the float32 bytes.
import { endianness } from "node:os";
import { QuantscopeError, printable } from "../io/errors.js";
import type { Imatrix, ImatrixEntry, TensorInfo } from "../io/source.js";
import { dequantize, quantize, quantizedSize } from "./index.js";
import { quantizeParallel } from "./parallel.js";

/** An importance vector for a whole tensor: an imatrix entry or its values (cols x experts). */
export type TensorImatrix = ImatrixEntry | Float32Array;

/** How llama-quantize cuts a tensor: `slices` (ne2) matrices of `rows` (ne1) x `cols` (ne0). */
export interface TensorSlices {
  cols: number;
  rows: number;
  slices: number;
}

/** The slices of a shape in ggml order; 4-D shapes must have ne3 = 1 (llama-quantize loops over ne2 only). */
export function tensorSlices(shape: readonly number[]): TensorSlices {
  if (shape.length < 1 || shape.length > 4 || shape.some((d) => !Number.isSafeInteger(d) || d < 0) || shape[0]! < 1) {
    throw new QuantscopeError(`invalid tensor shape [${shape.join(", ")}] (ggml order, 1 to 4 dims, ne0 >= 1)`);
  }
  if (shape.length === 4 && shape[3] !== 1) {
    throw new QuantscopeError(`tensor shape [${shape.join(", ")}]: llama-quantize quantizes 2-D and 3-D tensors; ne3 must be 1`);
  }
  return { cols: shape[0]!, rows: shape[1] ?? 1, slices: shape[2] ?? 1 };
}

function importance(imatrix: TensorImatrix | undefined): { values?: Float32Array; label: string } {
  if (!imatrix) return { label: "" };
  if (imatrix instanceof Float32Array) return { values: imatrix, label: "imatrix" };
  return { values: imatrix.values, label: `imatrix entry ${printable(imatrix.name)}` };
}

function checkArgs(type: string, data: Float32Array, shape: readonly number[], imatrix?: TensorImatrix): TensorSlices & { im?: Float32Array } {
  const s = tensorSlices(shape);
  const n = s.cols * s.rows * s.slices;
  if (data.length !== n) throw new QuantscopeError(`${type}: shape [${shape.join(", ")}] needs ${n} floats, got ${data.length}`);
  const { values, label } = importance(imatrix);
  if (values && values.length !== s.cols * s.slices) {
    // llama-quantize refuses this too ("imatrix size X is different from tensor size Y").
    throw new QuantscopeError(`${label} has ${values.length} values, the tensor [${shape.join(", ")}] needs ${s.cols * s.slices} (${s.cols} columns x ${s.slices} expert${s.slices === 1 ? "" : "s"})`);
  }
  return { ...s, im: values };
}

const LITTLE = endianness() === "LE";

function f32Bytes(data: Float32Array): Uint8Array {
  if (LITTLE) return new Uint8Array(data.slice().buffer);
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
  return out;
}

function f32Floats(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/** Bytes of a tensor of `shape` stored as `type` (F32 included). */
export function tensorBytes(type: string, shape: readonly number[]): number {
  const s = tensorSlices(shape);
  if (type.toUpperCase() === "F32") return s.cols * s.rows * s.slices * 4;
  return quantizedSize(type, s.rows * s.slices, s.cols);
}

/**
 * A whole tensor (float32, ggml order: data[(e*ne1 + r)*ne0 + c]) -> the bytes
 * llama-quantize writes for it as `type`, expert by expert with expert e's
 * importance vector values[e*ne0, (e+1)*ne0). The imatrix must hold ne0 x ne2
 * values (llama-quantize refuses other sizes); types that ignore an imatrix ignore it.
 */
export function quantizeTensor(type: string, data: Float32Array, shape: readonly number[], imatrix?: TensorImatrix): Uint8Array {
  const { cols, rows, slices, im } = checkArgs(type, data, shape, imatrix);
  if (type.toUpperCase() === "F32") return f32Bytes(data);
  if (slices === 1) return quantize(type, data, rows, cols, im);
  const sliceBytes = quantizedSize(type, rows, cols);
  const out = new Uint8Array(sliceBytes * slices);
  const n = rows * cols;
  for (let e = 0; e < slices; e++) {
    try {
      out.set(quantize(type, data.subarray(e * n, (e + 1) * n), rows, cols, im?.subarray(e * cols, (e + 1) * cols)), e * sliceBytes);
    } catch (err) {
      if (err instanceof QuantscopeError) throw new QuantscopeError(`expert ${e}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

/** quantizeTensor() with each expert's rows split across worker threads (same bytes). */
export async function quantizeTensorParallel(
  type: string, data: Float32Array, shape: readonly number[], imatrix?: TensorImatrix, threads?: number,
): Promise<Uint8Array> {
  const { cols, rows, slices, im } = checkArgs(type, data, shape, imatrix);
  if (type.toUpperCase() === "F32") return f32Bytes(data);
  const sliceBytes = quantizedSize(type, rows, cols);
  const out = new Uint8Array(sliceBytes * slices);
  const n = rows * cols;
  for (let e = 0; e < slices; e++) {
    // quantizeParallel copies its slices into the workers, so views are fine here.
    const bytes = await quantizeParallel(type, data.subarray(e * n, (e + 1) * n), rows, cols, im?.subarray(e * cols, (e + 1) * cols), threads);
    out.set(bytes, e * sliceBytes);
  }
  return out;
}

/** The bytes of a tensor of `shape` stored as `type` -> float32 (ggml's to_float; F32 as stored). */
export function dequantizeTensor(type: string, bytes: Uint8Array, shape: readonly number[]): Float32Array {
  const s = tensorSlices(shape);
  if (type.toUpperCase() === "F32") {
    const want = s.cols * s.rows * s.slices * 4;
    if (bytes.length !== want) throw new QuantscopeError(`F32: shape [${shape.join(", ")}] needs ${want} bytes, got ${bytes.length}`);
    return f32Floats(bytes);
  }
  // Rows never share blocks, so the slices dequantize as one matrix.
  return dequantize(type, bytes, s.rows * s.slices, s.cols);
}

/** What llama-quantize's output decodes to: dequantizeTensor(quantizeTensor(...)). */
export function roundTripTensor(type: string, data: Float32Array, shape: readonly number[], imatrix?: TensorImatrix): Float32Array {
  return dequantizeTensor(type, quantizeTensor(type, data, shape, imatrix), shape);
}

/**
 * The importance vector llama-quantize uses for a tensor: the entry of the same
 * name, or undefined when the imatrix has none ("did not find weights": the tensor
 * is quantized without one). An entry whose size is not ne0 x ne2 is an error, as in
 * llama-quantize, except for token_embd / per_layer_token_embd, which it then
 * quantizes without an imatrix.
 */
export function tensorImatrix(imatrix: Imatrix | undefined, info: TensorInfo): Float32Array | undefined {
  const e = imatrix?.entries.get(info.name);
  if (!e) return undefined;
  const s = tensorSlices(info.shape);
  if (e.values.length === s.cols * s.slices) return e.values;
  if (info.name === "token_embd.weight" || info.name === "per_layer_token_embd.weight") return undefined;
  throw new QuantscopeError(`${imatrix!.path}: imatrix entry ${printable(info.name)} has ${e.values.length} values, the tensor [${info.shape.join(", ")}] needs ${s.cols * s.slices} (${s.cols} columns x ${s.slices} expert${s.slices === 1 ? "" : "s"}); llama-quantize refuses this too`);
}
