// Public quantization API: quantize / dequantize / typeInfo over the registry.
import { QuantscopeError } from "../io/errors.js";
import { bitsPerWeight, ggmlTypeByName, type GgmlTypeInfo } from "../ggml/types.js";
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

export function supportedTypes(): string[] {
  return codecNames();
}

function checkShape(c: Codec, rows: number, cols: number, n: number, what: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols <= 0) {
    throw new QuantscopeError(`${c.info.name}: invalid shape ${rows}x${cols}`);
  }
  if (cols % c.info.blockSize !== 0) {
    throw new QuantscopeError(
      `${c.info.name}: row length ${cols} is not a multiple of the block size ${c.info.blockSize}`,
    );
  }
  if (n !== (what === "floats" ? rows * cols : (rows * cols / c.info.blockSize) * c.info.typeSize)) {
    throw new QuantscopeError(`${c.info.name}: ${rows}x${cols} needs ${what === "floats" ? rows * cols + " floats" : (rows * cols / c.info.blockSize) * c.info.typeSize + " bytes"}, got ${n}`);
  }
}

/** rows x cols float32 -> ggml block bytes, byte-identical to llama.cpp's ggml_quantize_chunk. */
export function quantize(type: string, src: Float32Array, rows: number, cols: number, imatrix?: Float32Array): Uint8Array {
  const c = codecFor(type);
  checkShape(c, rows, cols, src.length, "floats");
  if (imatrix && imatrix.length !== cols) {
    throw new QuantscopeError(`${c.info.name}: imatrix has ${imatrix.length} values, expected one per column (${cols})`);
  }
  if (c.imatrix === "required" && !imatrix) {
    throw new QuantscopeError(`${c.info.name} requires an importance matrix (imatrix)`);
  }
  return c.quantize(src, rows, cols, c.imatrix === "ignored" ? undefined : imatrix);
}

/** ggml block bytes -> float32, bit-identical to ggml's to_float. */
export function dequantize(type: string, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  const c = codecFor(type);
  checkShape(c, rows, cols, bytes.length, "bytes");
  return c.dequantize(bytes, rows, cols);
}
