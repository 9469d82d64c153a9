// A single f32bin file as a TensorSource (one tensor, rows x cols float32).
import { basename } from "node:path";
import { QuantscopeError } from "./errors.js";
import { F32BIN_HEADER_BYTES, validateF32BinHeader, type Matrix } from "./f32bin.js";
import { PositionedFile } from "./file.js";
import { checkRowRange, TensorIndex } from "./lookup.js";
import { readDecodedRows } from "./decode.js";
import type { SourceFormat, TensorInfo, TensorSource } from "./source.js";

/** Tensor name for an f32bin file name: blk_0_ffn_down_weight.f32bin -> blk.0.ffn_down.weight. */
export function f32binTensorName(file: string): string {
  const stem = basename(file).replace(/\.f32bin$/i, "");
  const m = /^blk_(\d+)_(.+)_(weight|bias)$/.exec(stem);
  if (m) return `blk.${m[1]}.${m[2]}.${m[3]}`;
  const g = /^(.+)_(weight|bias)$/.exec(stem);
  return g ? `${g[1]}.${g[2]}` : stem;
}

export class F32BinSource implements TensorSource {
  readonly format: SourceFormat = "f32bin";
  readonly metadata: ReadonlyMap<string, unknown> = new Map();
  private readonly file: PositionedFile;
  private readonly index: TensorIndex;

  constructor(readonly path: string, name = f32binTensorName(path)) {
    this.file = new PositionedFile(path);
    let rows: number, cols: number;
    try {
      const head = this.file.size >= F32BIN_HEADER_BYTES ? Buffer.from(this.file.read(0, F32BIN_HEADER_BYTES, "header")) : Buffer.alloc(F32BIN_HEADER_BYTES);
      ({ rows, cols } = validateF32BinHeader(path, head, this.file.size));
    } catch (e) {
      this.file.close();
      throw e;
    }
    this.index = new TensorIndex(path, [{
      name, originalName: basename(path), shape: [cols, rows], rows, cols, type: "F32",
      byteSize: rows * cols * 4, offset: BigInt(F32BIN_HEADER_BYTES), file: path,
    }]);
  }

  tensors(): TensorInfo[] { return this.index.list; }
  tensor(name: string): TensorInfo { return this.index.get(name); }

  readRaw(name: string, start = 0, count?: number): Uint8Array {
    const t = this.index.get(name);
    const n = count ?? t.rows - start;
    checkRowRange(this.path, t, start, n);
    return this.file.read(F32BIN_HEADER_BYTES + start * t.cols * 4, n * t.cols * 4, "data");
  }

  readRows(name: string, start: number, count: number, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    checkRowRange(this.path, t, start, count);
    if (count * t.cols > 0x3fffffff) throw new QuantscopeError(`${this.path}: ${count} rows are too many to hold at once; read fewer rows`);
    return { rows: count, cols: t.cols, data: readDecodedRows(this.file, F32BIN_HEADER_BYTES, t.cols * 4, start, count, t, this.path, into) };
  }

  read(name: string, into?: Float32Array): Matrix {
    return this.readRows(name, 0, this.index.get(name).rows, into);
  }

  close(): void { this.file.close(); }
}
