// GGUF model source: one file or a split model (-00001-of-0000N.gguf) opened
// as one. Only the headers are read up front; tensor data is read per tensor
// or per row range with positioned reads.
import { existsSync } from "node:fs";
import { QuantscopeError, fileError } from "./errors.js";
import { PositionedFile } from "./file.js";
import { parseGgufHeader, type GgufHeader, type GgufKV } from "./gguf-header.js";
import { checkRowRange, TensorIndex } from "./lookup.js";
import { readDecodedRows } from "./decode.js";
import { ggmlTypeByName, rowBytes } from "../ggml/types.js";
import type { Matrix } from "./f32bin.js";
import type { SourceFormat, TensorInfo, TensorSource } from "./source.js";

const SHARD = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** The shard paths of a split GGUF, or [path] for a single file. */
export function ggufShardPaths(path: string): string[] {
  const m = SHARD.exec(path);
  if (!m) return [path];
  const n = Number(m[3]);
  if (n < 1) throw fileError(path, `shard count ${m[3]} in the file name is invalid`);
  const paths: string[] = [];
  for (let i = 1; i <= n; i++) paths.push(`${m[1]}-${String(i).padStart(5, "0")}-of-${m[3]}.gguf`);
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length) throw fileError(path, `split model is missing ${missing.length} of ${n} shards: ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", ..." : ""}`);
  return paths;
}

export class GgufSource implements TensorSource {
  readonly format: SourceFormat = "gguf";
  readonly metadata: ReadonlyMap<string, unknown>;
  /** Parsed headers, one per shard. */
  readonly headers: GgufHeader[];
  /** Total bytes of all shard files. */
  readonly fileSize: number;
  private readonly files: PositionedFile[];
  private readonly index: TensorIndex;
  private readonly fileOf = new Map<string, number>();

  constructor(readonly path: string) {
    const paths = ggufShardPaths(path);
    this.files = [];
    this.headers = [];
    try {
      for (const p of paths) {
        const f = new PositionedFile(p);
        this.files.push(f);
        this.headers.push(parseGgufHeader(f));
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.fileSize = this.files.reduce((s, f) => s + f.size, 0);
    // Metadata of the first shard (later shards carry only split.* keys).
    const meta = new Map<string, unknown>();
    for (const kv of this.headers[0]!.kvs) meta.set(kv.key, kv.value);
    this.metadata = meta;
    const infos: TensorInfo[] = [];
    this.headers.forEach((h, fi) => {
      for (const t of h.tensors) {
        if (this.fileOf.has(t.name)) {
          this.close();
          throw fileError(h.path, `tensor "${t.name}" also appears in an earlier shard`, t.infoOffset, `tensor "${t.name}"`);
        }
        this.fileOf.set(t.name, fi);
        const cols = t.shape[0]!;
        const rows = t.shape.slice(1).reduce((a, b) => a * b, 1);
        infos.push({
          name: t.name, originalName: t.name, shape: t.shape, rows, cols, type: t.type,
          byteSize: t.byteSize, offset: BigInt(h.dataOffset) + t.relOffset, file: h.path,
        });
      }
    });
    if (this.headers.length > 1) {
      const declared = meta.get("split.tensors.count");
      if (typeof declared === "number" && declared !== infos.length) {
        this.close();
        const kv = this.headers[0]!.kvs.find((k) => k.key === "split.tensors.count")!;
        throw fileError(path, `split.tensors.count says ${declared} tensors but the ${this.headers.length} shards hold ${infos.length}`, kv.offset, "split.tensors.count");
      }
    }
    this.index = new TensorIndex(path, infos);
  }

  /** The KV records (with types and offsets) of the first shard. */
  kvs(): GgufKV[] {
    return this.headers[0]!.kvs;
  }

  tensors(): TensorInfo[] {
    return this.index.list;
  }

  tensor(name: string): TensorInfo {
    return this.index.get(name);
  }

  readRaw(name: string, start = 0, count?: number, into?: Uint8Array): Uint8Array {
    const t = this.index.get(name);
    const n = count ?? t.rows - start;
    checkRowRange(this.path, t, start, n);
    const rb = rowBytes(ggmlTypeByName(t.type)!, t.cols);
    const file = this.files[this.fileOf.get(t.name)!]!;
    const dst = into && into.length >= n * rb ? into.subarray(0, n * rb) : undefined;
    return file.read(Number(t.offset!) + start * rb, n * rb, `tensor "${t.name}" data`, dst);
  }

  readRows(name: string, start: number, count: number, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    checkRowRange(this.path, t, start, count);
    if (count * t.cols > 0x3fffffff) {
      throw new QuantscopeError(`${this.path}: ${count} rows of ${t.name} (${count * t.cols} values) are too many to hold at once; read fewer rows`);
    }
    const rb = rowBytes(ggmlTypeByName(t.type)!, t.cols);
    const file = this.files[this.fileOf.get(t.name)!]!;
    return { rows: count, cols: t.cols, data: readDecodedRows(file, Number(t.offset!), rb, start, count, t, this.path, into) };
  }

  read(name: string, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    return this.readRows(name, 0, t.rows, into);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}
