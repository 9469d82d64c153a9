// A small GGUF v3 writer (little-endian): used to split models into shards,
// to build test files, and by the fuzzer to make structurally valid inputs.
import { GgufValueType, type GgufKV, GGUF_DEFAULT_ALIGNMENT } from "./gguf-header.js";
import { ggmlTypeByName } from "../ggml/types.js";
import { QuantscopeError } from "./errors.js";

export interface GgufWriteTensor {
  name: string;
  /** ggml order (ne0 first). */
  shape: number[];
  type: string;
  data: Uint8Array;
}

class Out {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
  u64(v: number | bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
  concat(): Buffer { return Buffer.concat(this.chunks); }
}

function writeValue(o: Out, type: GgufValueType, v: unknown, arrayType?: GgufValueType): void {
  const b = Buffer.alloc(8);
  switch (type) {
    case GgufValueType.UINT8: b.writeUInt8(v as number); o.push(b.subarray(0, 1)); break;
    case GgufValueType.INT8: b.writeInt8(v as number); o.push(b.subarray(0, 1)); break;
    case GgufValueType.UINT16: b.writeUInt16LE(v as number); o.push(b.subarray(0, 2)); break;
    case GgufValueType.INT16: b.writeInt16LE(v as number); o.push(b.subarray(0, 2)); break;
    case GgufValueType.UINT32: b.writeUInt32LE(v as number); o.push(b.subarray(0, 4)); break;
    case GgufValueType.INT32: b.writeInt32LE(v as number); o.push(b.subarray(0, 4)); break;
    case GgufValueType.FLOAT32: b.writeFloatLE(v as number); o.push(b.subarray(0, 4)); break;
    case GgufValueType.FLOAT64: b.writeDoubleLE(v as number); o.push(b); break;
    case GgufValueType.UINT64: b.writeBigUInt64LE(BigInt(v as number)); o.push(b); break;
    case GgufValueType.INT64: b.writeBigInt64LE(BigInt(v as number)); o.push(b); break;
    case GgufValueType.BOOL: o.push(Buffer.from([v ? 1 : 0])); break;
    case GgufValueType.STRING: o.str(v as string); break;
    case GgufValueType.ARRAY: {
      const arr = v as unknown[];
      if (arrayType === undefined) throw new QuantscopeError("gguf-write: array without element type");
      o.u32(arrayType);
      o.u64(arr.length);
      for (const x of arr) writeValue(o, arrayType, x, Array.isArray(x) ? inferType(x) : undefined);
      break;
    }
  }
}

/** Element type for nested arrays written without explicit types (numbers -> f32). */
function inferType(arr: unknown[]): GgufValueType {
  const x = arr[0];
  return typeof x === "string" ? GgufValueType.STRING : typeof x === "boolean" ? GgufValueType.BOOL : Array.isArray(x) ? GgufValueType.ARRAY : GgufValueType.FLOAT32;
}

/**
 * The header (up to the aligned start of the data section) and the data
 * offsets of each tensor. Tensor data is laid out in order, each aligned.
 */
export function encodeGgufHeader(kvs: Pick<GgufKV, "key" | "type" | "value" | "arrayType">[], tensors: Omit<GgufWriteTensor, "data">[], alignment = GGUF_DEFAULT_ALIGNMENT): { header: Buffer; offsets: number[]; dataBytes: number } {
  const o = new Out();
  o.push(Buffer.from("GGUF", "latin1"));
  o.u32(3);
  o.u64(tensors.length);
  o.u64(kvs.length);
  for (const kv of kvs) {
    o.str(kv.key);
    o.u32(kv.type);
    writeValue(o, kv.type, kv.value, kv.arrayType);
  }
  const offsets: number[] = [];
  let off = 0;
  for (const t of tensors) {
    const info = ggmlTypeByName(t.type);
    if (!info) throw new QuantscopeError(`gguf-write: unknown type ${t.type}`);
    o.str(t.name);
    o.u32(t.shape.length);
    for (const d of t.shape) o.u64(d);
    o.u32(info.id);
    o.u64(off);
    offsets.push(off);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    off += Math.ceil(((elements / info.blockSize) * info.typeSize) / alignment) * alignment;
  }
  const pad = (alignment - (o.length % alignment)) % alignment;
  o.push(Buffer.alloc(pad));
  return { header: o.concat(), offsets, dataBytes: off };
}

/** A whole GGUF file in memory (small files only: tests and fuzzing). */
export function encodeGguf(kvs: Pick<GgufKV, "key" | "type" | "value" | "arrayType">[], tensors: GgufWriteTensor[], alignment = GGUF_DEFAULT_ALIGNMENT): Buffer {
  const { header, offsets, dataBytes } = encodeGgufHeader(kvs, tensors, alignment);
  const out = Buffer.alloc(header.length + dataBytes);
  header.copy(out, 0);
  tensors.forEach((t, i) => out.set(t.data, header.length + offsets[i]!));
  return out;
}
