// NumPy .npy (v1/v2/v3): float32 / float16, C order. A 2-D array (rows, cols)
// is a weight with rows = output features; 1-D is one row; more dims fold
// into rows, like ggml does.
import { basename } from "node:path";
import { fileError, QuantscopeError } from "./errors.js";
import { PositionedFile } from "./file.js";
import { checkRowRange, TensorIndex } from "./lookup.js";
import { readDecodedRows } from "./decode.js";
import { floatToHalf } from "../ggml/float-convert.js";
import type { Matrix } from "./f32bin.js";
import type { SourceFormat, TensorInfo, TensorSource } from "./source.js";

export const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** numpy itself refuses headers larger than this by default. */
const MAX_HEADER = 1 << 20;

export interface NpyHeader {
  dtype: "F32" | "F16";
  /** numpy shape (C order, slowest first). */
  shape: number[];
  dataOffset: number;
}

export function parseNpyHeader(file: PositionedFile): NpyHeader {
  const path = file.path;
  if (file.size < 10) throw fileError(path, `file has ${file.size} bytes, too short for a .npy header`, 0, "magic");
  const pre = Buffer.from(file.read(0, Math.min(12, file.size), "magic"));
  if (!pre.subarray(0, 6).equals(NPY_MAGIC)) throw fileError(path, "not a .npy file (bad magic)", 0, "magic");
  const major = pre[6]!;
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = pre.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (file.size < 12) throw fileError(path, "truncated header", 8, "header_len");
    headerLen = pre.readUInt32LE(8);
    start = 12;
  } else {
    throw fileError(path, `unsupported .npy version ${major}.${pre[7]}`, 6, "version");
  }
  if (headerLen > MAX_HEADER || start + headerLen > file.size) {
    throw fileError(path, `header length ${headerLen} exceeds the file (${file.size} bytes) or the 1 MiB limit`, 8, "header_len");
  }
  const text = Buffer.from(file.read(start, headerLen, "header")).toString(major === 3 ? "utf8" : "latin1");
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw fileError(path, "header is not a dict with descr, fortran_order and shape", start, "header");
  }
  if (fortran === "True") throw fileError(path, "Fortran-order arrays are not supported (save with C order)", start, "fortran_order");
  let dtype: "F32" | "F16";
  if (descr === "<f4" || (descr === "=f4")) dtype = "F32";
  else if (descr === "<f2" || descr === "=f2") dtype = "F16";
  else throw fileError(path, `dtype ${descr} is not supported (little-endian float32 '<f4' or float16 '<f2' only)`, start, "descr");
  const parts = shapeText.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const shape: number[] = [];
  let elements = 1;
  for (const p of parts) {
    if (!/^\d+L?$/.test(p)) throw fileError(path, `shape entry "${p}" is not a non-negative integer`, start, "shape");
    const d = Number(p.replace("L", ""));
    elements *= d;
    if (!Number.isSafeInteger(elements)) throw fileError(path, `shape (${parts.join(", ")}) is too large`, start, "shape");
    shape.push(d);
  }
  if (shape.length === 0) throw fileError(path, "0-d (scalar) arrays are not tensors", start, "shape");
  const dataOffset = start + headerLen;
  const need = elements * (dtype === "F32" ? 4 : 2);
  if (dataOffset + need !== file.size) {
    throw fileError(path, `shape (${shape.join(", ")}) needs ${need} data bytes but the file holds ${file.size - dataOffset}`, dataOffset, "data");
  }
  return { dtype, shape, dataOffset };
}

export class NpySource implements TensorSource {
  readonly format: SourceFormat = "npy";
  readonly metadata: ReadonlyMap<string, unknown>;
  private readonly file: PositionedFile;
  private readonly index: TensorIndex;
  private readonly header: NpyHeader;

  constructor(readonly path: string, name?: string) {
    this.file = new PositionedFile(path);
    try {
      this.header = parseNpyHeader(this.file);
    } catch (e) {
      this.file.close();
      throw e;
    }
    const shape = [...this.header.shape].reverse(); // ggml order
    const tname = name ?? basename(path).replace(/\.npy$/i, "");
    const elementBytes = this.header.dtype === "F32" ? 4 : 2;
    const cols = shape[0]!;
    const rows = shape.slice(1).reduce((a, b) => a * b, 1);
    this.index = new TensorIndex(path, [{
      name: tname, originalName: tname, shape, rows, cols, type: this.header.dtype,
      byteSize: rows * cols * elementBytes, offset: BigInt(this.header.dataOffset), file: path,
    }]);
    this.metadata = new Map<string, unknown>([["npy.shape", this.header.shape], ["npy.dtype", this.header.dtype]]);
  }

  tensors(): TensorInfo[] { return this.index.list; }
  tensor(name: string): TensorInfo { return this.index.get(name); }

  readRaw(name: string, start = 0, count?: number): Uint8Array {
    const t = this.index.get(name);
    const n = count ?? t.rows - start;
    checkRowRange(this.path, t, start, n);
    const eb = t.type === "F32" ? 4 : 2;
    return this.file.read(this.header.dataOffset + start * t.cols * eb, n * t.cols * eb, "data");
  }

  readRows(name: string, start: number, count: number, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    checkRowRange(this.path, t, start, count);
    if (count * t.cols > 0x3fffffff) throw new QuantscopeError(`${this.path}: ${count} rows are too many to hold at once; read fewer rows`);
    return { rows: count, cols: t.cols, data: readDecodedRows(this.file, this.header.dataOffset, t.cols * (t.type === "F32" ? 4 : 2), start, count, t, this.path, into) };
  }

  read(name: string, into?: Float32Array): Matrix {
    return this.readRows(name, 0, this.index.get(name).rows, into);
  }

  close(): void { this.file.close(); }
}

/** A matrix as .npy v1 bytes, float32 ('<f4') or float16 ('<f2'), shape (rows, cols). */
export function encodeNpy(m: Matrix, dtype: "F32" | "F16" = "F32"): Buffer {
  const descr = dtype === "F32" ? "<f4" : "<f2";
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${m.rows}, ${m.cols}), }`;
  // Pad so magic(6)+version(2)+len(2)+header is a multiple of 64 and ends with '\n'.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, " ") + "\n";
  const eb = dtype === "F32" ? 4 : 2;
  const out = Buffer.alloc(10 + dict.length + m.data.length * eb);
  NPY_MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, "latin1");
  const base = 10 + dict.length;
  if (dtype === "F32") for (let i = 0; i < m.data.length; i++) out.writeFloatLE(m.data[i]!, base + i * 4);
  else for (let i = 0; i < m.data.length; i++) out.writeUInt16LE(floatToHalf(m.data[i]!), base + i * 2);
  return out;
}
