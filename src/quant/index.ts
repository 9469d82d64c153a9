// Public quantization API: quantize / dequantize / typeInfo over the registry,
// with the checks llama.cpp only asserts (row length a multiple of the block,
// imatrix length == cols, required imatrix present) turned into clear errors.
import { QuantscopeError } from "../io/errors.js";
import { bitsPerWeight, ggmlTypeByName, rowBytes, type GgmlTypeInfo } from "../ggml/types.js";
import type { Codec, ImatrixUse } from "./codec.js";
import { codecNames, findCodec } from "./registry.js";
import "./codecs/index.js";

export type { Codec, ImatrixUse } from "./codec.js";

export interface TypeInfo extends GgmlTypeInfo {
  readonly bitsPerWeight: number;
  readonly imatrix: ImatrixUse;
}

/** The codec for a type name (case-insensitive), or a clear error naming it. */
export function codecFor(type: string): Codec {
  const codec = findCodec(type);
  if (codec) return codec;
  const known = ggmlTypeByName(type);
  const list = codecNames().join(", ");
  throw new QuantscopeError(
    known
      ? `type ${known.name} is not supported by quantscope yet (supported: ${list})`
      : `unknown type "${type}" (supported: ${list})`,
  );
}

export function typeInfo(type: string): TypeInfo {
  const c = codecFor(type);
  return { ...c.info, bitsPerWeight: bitsPerWeight(c.info), imatrix: c.imatrix };
}

/** Names of every type that can be quantized and dequantized here, in registration order. */
export function supportedTypes(): string[] {
  return codecNames();
}

function checkShape(c: Codec, rows: number, cols: number): void {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols <= 0) {
    throw new QuantscopeError(`${c.info.name}: invalid shape ${rows}x${cols}`);
  }
  if (cols % c.info.blockSize !== 0) {
    throw new QuantscopeError(
      `${c.info.name}: row length ${cols} is not a multiple of the block size ${c.info.blockSize}`,
    );
  }
}

/** Bytes of rows x cols in a type (after the shape checks). */
export function quantizedSize(type: string, rows: number, cols: number): number {
  const c = codecFor(type);
  checkShape(c, rows, cols);
  return rows * rowBytes(c.info, cols);
}

function checkQuantizeArgs(c: Codec, src: Float32Array, rows: number, cols: number, imatrix?: Float32Array): void {
  checkShape(c, rows, cols);
  if (src.length !== rows * cols) {
    throw new QuantscopeError(`${c.info.name}: ${rows}x${cols} needs ${rows * cols} floats, got ${src.length}`);
  }
  if (imatrix) {
    if (imatrix.length !== cols) {
      throw new QuantscopeError(
        `${c.info.name}: imatrix has ${imatrix.length} values, expected one per column (${cols})`,
      );
    }
    const bad = imatrix.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new QuantscopeError(`${c.info.name}: imatrix value ${imatrix[bad]} at column ${bad} is not finite`);
  }
  if (c.imatrix === "required" && !imatrix) {
    throw new QuantscopeError(`${c.info.name} requires an importance matrix (imatrix)`);
  }
}

function checkBytes(c: Codec, n: number, rows: number, cols: number): void {
  checkShape(c, rows, cols);
  const want = rows * rowBytes(c.info, cols);
  if (n !== want) throw new QuantscopeError(`${c.info.name}: ${rows}x${cols} needs ${want} bytes, got ${n}`);
}

/**
 * rows x cols float32 (row-major) -> ggml block bytes, byte-identical to
 * llama.cpp's ggml_quantize_chunk. NaN/Inf input is rejected for block types.
 */
export function quantize(type: string, src: Float32Array, rows: number, cols: number, imatrix?: Float32Array): Uint8Array {
  const c = codecFor(type);
  checkQuantizeArgs(c, src, rows, cols, imatrix);
  return c.quantize(src, rows, cols, c.imatrix === "ignored" ? undefined : imatrix);
}

/** quantize() into a caller's buffer of exactly quantizedSize() bytes (reuse it to avoid allocation). */
export function quantizeInto(
  type: string, src: Float32Array, rows: number, cols: number, out: Uint8Array, imatrix?: Float32Array,
): Uint8Array {
  const c = codecFor(type);
  checkQuantizeArgs(c, src, rows, cols, imatrix);
  checkBytes(c, out.length, rows, cols);
  const im = c.imatrix === "ignored" ? undefined : imatrix;
  if (c.quantizeInto) return c.quantizeInto(src, rows, cols, im, out);
  out.set(c.quantize(src, rows, cols, im));
  return out;
}

/** ggml block bytes -> float32, bit-identical to ggml's to_float. */
export function dequantize(type: string, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  const c = codecFor(type);
  checkBytes(c, bytes.length, rows, cols);
  return c.dequantize(bytes, rows, cols);
}

/** dequantize() into a caller's buffer of exactly rows * cols floats. */
export function dequantizeInto(type: string, bytes: Uint8Array, rows: number, cols: number, out: Float32Array): Float32Array {
  const c = codecFor(type);
  checkBytes(c, bytes.length, rows, cols);
  if (out.length !== rows * cols) {
    throw new QuantscopeError(`${c.info.name}: output has ${out.length} floats, expected ${rows * cols}`);
  }
  if (c.dequantizeInto) return c.dequantizeInto(bytes, rows, cols, out);
  out.set(c.dequantize(bytes, rows, cols));
  return out;
}
