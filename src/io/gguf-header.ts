// GGUF v2/v3 header parser: metadata KVs (every value type, nested arrays)
// and tensor infos. Every count and length is checked against the bytes
// left in the file before anything is allocated for it.
import { ggmlTypeById } from "../ggml/types.js";
import { fileError } from "./errors.js";
import { HeaderCursor, PositionedFile } from "./file.js";

export const GGUF_MAGIC = "GGUF";
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most 4 dimensions. */
const MAX_DIMS = 4;
/** Nested arrays deeper than this are refused (the format allows it, no real file does it). */
const MAX_ARRAY_DEPTH = 8;

export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** Smallest encoding of one value of each type, used to cap counts by the bytes left. */
const MIN_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufKV {
  key: string;
  type: GgufValueType;
  /** For arrays: element type. */
  arrayType?: GgufValueType;
  value: GgufValue;
  /** Byte offset of the key. */
  offset: number;
}

export interface GgufTensorInfo {
  name: string;
  /** ggml order, ne0 first. */
  shape: number[];
  typeId: number;
  type: string;
  /** Offset relative to the start of the data section. */
  relOffset: bigint;
  byteSize: number;
  /** Offset of the tensor info in the header (for error messages). */
  infoOffset: number;
}

export interface GgufHeader {
  path: string;
  version: number;
  alignment: number;
  kvs: GgufKV[];
  tensors: GgufTensorInfo[];
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}

/** Parses and validates the header of an open GGUF file. */
export function parseGgufHeader(file: PositionedFile): GgufHeader {
  const c = new HeaderCursor(file);
  const path = file.path;
  if (file.size < 4) throw fileError(path, `file has ${file.size} bytes, too short for a GGUF header`, 0, "magic");
  const magic = c.bytes(4, "magic").toString("latin1");
  if (magic !== GGUF_MAGIC) throw fileError(path, `not a GGUF file (magic is ${JSON.stringify(magic)}, expected "GGUF")`, 0, "magic");
  const version = c.u32("version");
  if (version > 0xffff && ((version >>> 24) & 0xff) >= 1 && ((version >>> 24) & 0xff) <= 3 && (version & 0xffffff) === 0) {
    throw fileError(path, `big-endian GGUF (version reads ${version >>> 24} byte-swapped) is not supported; convert it to little-endian`, 4, "version");
  }
  if (version === 1) throw fileError(path, "GGUF v1 is not supported (only v2 and v3); re-convert the model with a current llama.cpp", 4, "version");
  if (version < 1 || version > 3) throw fileError(path, `unsupported GGUF version ${version} (supported: 2, 3)`, 4, "version");

  const nTensorsAt = c.pos;
  const nTensors = c.u64("tensor_count");
  const nKvAt = c.pos;
  const nKv = c.u64("kv_count");
  // Each KV needs >= 13 bytes and each tensor info >= 32: cap the counts before looping.
  if (nKv * 13n > BigInt(c.remaining)) throw fileError(path, `kv_count ${nKv} cannot fit in the ${c.remaining} bytes left`, nKvAt, "kv_count");
  if (nTensors * 32n > BigInt(c.remaining)) throw fileError(path, `tensor_count ${nTensors} cannot fit in the ${c.remaining} bytes left`, nTensorsAt, "tensor_count");

  const kvs: GgufKV[] = [];
  const seenKeys = new Set<string>();
  for (let i = 0; i < Number(nKv); i++) {
    const offset = c.pos;
    const key = readString(c, `metadata key #${i}`);
    if (seenKeys.has(key)) throw fileError(path, `duplicate metadata key "${key}"`, offset, `metadata key #${i}`);
    seenKeys.add(key);
    const typeAt = c.pos;
    const type = c.u32(`type of "${key}"`);
    if (!(type in MIN_SIZE)) throw fileError(path, `unknown value type ${type}`, typeAt, `type of "${key}"`);
    const kv: GgufKV = { key, type, value: 0, offset };
    if (type === GgufValueType.ARRAY) {
      const arr = readArray(c, key, 0);
      kv.arrayType = arr.type;
      kv.value = arr.value;
    } else {
      kv.value = readScalar(c, type, `value of "${key}"`);
    }
    kvs.push(kv);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignKv = kvs.find((k) => k.key === "general.alignment");
  if (alignKv) {
    const a = alignKv.value;
    if (alignKv.type !== GgufValueType.UINT32 || typeof a !== "number" || a === 0 || (a & (a - 1)) !== 0) {
      throw fileError(path, `general.alignment must be a power-of-two uint32, got ${String(a)} (type ${alignKv.type})`, alignKv.offset, "general.alignment");
    }
    alignment = a;
  }

  const tensors: GgufTensorInfo[] = [];
  const seenNames = new Set<string>();
  for (let i = 0; i < Number(nTensors); i++) {
    const infoOffset = c.pos;
    const name = readString(c, `tensor #${i} name`);
    const field = `tensor "${name}"`;
    if (seenNames.has(name)) throw fileError(path, `duplicate tensor name "${name}"`, infoOffset, field);
    seenNames.add(name);
    const nDimsAt = c.pos;
    const nDims = c.u32(`${field} n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) throw fileError(path, `n_dims ${nDims} is outside 1..${MAX_DIMS}`, nDimsAt, `${field} n_dims`);
    const shape: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const at = c.pos;
      const ne = c.u64(`${field} ne[${d}]`);
      elements *= ne;
      if (ne > BigInt(Number.MAX_SAFE_INTEGER) || elements > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw fileError(path, `dimension ${ne} makes the element count overflow`, at, `${field} ne[${d}]`);
      }
      shape.push(Number(ne));
    }
    const typeAt = c.pos;
    const typeId = c.u32(`${field} type`);
    const t = ggmlTypeById(typeId);
    if (!t) throw fileError(path, `unknown ggml type id ${typeId}`, typeAt, `${field} type`);
    if (shape[0]! % t.blockSize !== 0) {
      throw fileError(path, `row length ${shape[0]} is not a multiple of ${t.name}'s block size ${t.blockSize}`, nDimsAt + 4, `${field} ne[0]`);
    }
    const offAt = c.pos;
    const relOffset = c.u64(`${field} offset`);
    if (relOffset % BigInt(alignment) !== 0n) {
      throw fileError(path, `data offset ${relOffset} is not a multiple of the alignment ${alignment}`, offAt, `${field} offset`);
    }
    const byteSize = (elements / BigInt(t.blockSize)) * BigInt(t.typeSize);
    tensors.push({ name, shape, typeId, type: t.name, relOffset, byteSize: Number(byteSize), infoOffset });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataBytes = BigInt(file.size - dataOffset);
  for (const t of tensors) {
    if (t.relOffset + BigInt(t.byteSize) > dataBytes) {
      throw fileError(
        path,
        `tensor data ${t.relOffset}..${t.relOffset + BigInt(t.byteSize)} (relative to the data section at ${dataOffset}) runs past the end of the file (${file.size} bytes)`,
        t.infoOffset,
        `tensor "${t.name}" offset`,
      );
    }
  }
  return { path, version, alignment, kvs, tensors, dataOffset, fileSize: file.size };
}

const UTF8 = new TextDecoder("utf-8", { fatal: false });

function readString(c: HeaderCursor, field: string): string {
  const at = c.pos;
  const len = c.u64(`${field} length`);
  if (len > BigInt(c.remaining)) throw fileError(c.path, `string length ${len} exceeds the ${c.remaining} bytes left`, at, `${field} length`);
  return UTF8.decode(c.bytes(Number(len), field));
}

function readScalar(c: HeaderCursor, type: number, field: string): GgufValue {
  switch (type) {
    case GgufValueType.UINT8: return c.u8(field);
    case GgufValueType.INT8: return c.i8(field);
    case GgufValueType.UINT16: return c.u16(field);
    case GgufValueType.INT16: return c.i16(field);
    case GgufValueType.UINT32: return c.u32(field);
    case GgufValueType.INT32: return c.i32(field);
    case GgufValueType.FLOAT32: return c.f32(field);
    case GgufValueType.FLOAT64: return c.f64(field);
    case GgufValueType.UINT64: return safeNumber(c.u64(field));
    case GgufValueType.INT64: return safeNumber(c.i64(field));
    case GgufValueType.BOOL: {
      const at = c.pos;
      const b = c.u8(field);
      if (b > 1) throw fileError(c.path, `bool must be 0 or 1, got ${b}`, at, field);
      return b === 1;
    }
    case GgufValueType.STRING: return readString(c, field);
    default: throw fileError(c.path, `unknown value type ${type}`, c.pos, field);
  }
}

function readArray(c: HeaderCursor, key: string, depth: number): { type: GgufValueType; value: GgufValue[] } {
  const field = `array "${key}"`;
  if (depth >= MAX_ARRAY_DEPTH) throw fileError(c.path, `arrays nested more than ${MAX_ARRAY_DEPTH} deep`, c.pos, field);
  const typeAt = c.pos;
  const type = c.u32(`${field} element type`);
  if (!(type in MIN_SIZE)) throw fileError(c.path, `unknown element type ${type}`, typeAt, `${field} element type`);
  const nAt = c.pos;
  const n = c.u64(`${field} length`);
  if (n * BigInt(MIN_SIZE[type]!) > BigInt(c.remaining)) {
    throw fileError(c.path, `${n} elements cannot fit in the ${c.remaining} bytes left`, nAt, `${field} length`);
  }
  const count = Number(n);
  const value: GgufValue[] = new Array<GgufValue>(count);
  const elemField = `${field} element`;
  if (type === GgufValueType.ARRAY) {
    for (let i = 0; i < count; i++) value[i] = readArray(c, `${key}[${i}]`, depth + 1).value;
  } else if (type === GgufValueType.STRING) {
    for (let i = 0; i < count; i++) value[i] = readString(c, elemField);
  } else {
    // Fixed-size elements: one bounds-checked read for the whole array (vocab scores can be 150k floats).
    const size = MIN_SIZE[type]!;
    const bytes = c.bytes(count * size, `${field} data`);
    for (let i = 0; i < count; i++) value[i] = decodeScalar(bytes, i * size, type, c.path, c.pos - bytes.length + i * size, elemField);
  }
  return { type, value };
}

function decodeScalar(b: Buffer, o: number, type: number, path: string, at: number, field: string): GgufValue {
  switch (type) {
    case GgufValueType.UINT8: return b[o]!;
    case GgufValueType.INT8: return b.readInt8(o);
    case GgufValueType.UINT16: return b.readUInt16LE(o);
    case GgufValueType.INT16: return b.readInt16LE(o);
    case GgufValueType.UINT32: return b.readUInt32LE(o);
    case GgufValueType.INT32: return b.readInt32LE(o);
    case GgufValueType.FLOAT32: return b.readFloatLE(o);
    case GgufValueType.FLOAT64: return b.readDoubleLE(o);
    case GgufValueType.UINT64: return safeNumber(b.readBigUInt64LE(o));
    case GgufValueType.INT64: return safeNumber(b.readBigInt64LE(o));
    case GgufValueType.BOOL:
      if (b[o]! > 1) throw fileError(path, `bool must be 0 or 1, got ${b[o]}`, at, field);
      return b[o] === 1;
    default: throw fileError(path, `unknown value type ${type}`, at, field);
  }
}

function safeNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
