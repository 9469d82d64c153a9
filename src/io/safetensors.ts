// safetensors: u64 LE header length, a JSON header, then raw little-endian
// data. Single files, or a sharded model via model.safetensors.index.json.
// Names are mapped to GGUF names (names.ts); the HF name stays as originalName.
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileError, QuantscopeError } from "./errors.js";
import { PositionedFile } from "./file.js";
import { checkRowRange, TensorIndex } from "./lookup.js";
import { outputBuffer, readDecodedRows } from "./decode.js";
import { hfExpertPart, hfToGguf } from "./names.js";
import { hfConfigMetadata } from "./hf-config.js";
import type { Matrix } from "./f32bin.js";
import type { SourceFormat, TensorInfo, TensorSource } from "./source.js";

/** The format allows up to 100 MB headers; so do we, and no more. */
const MAX_HEADER = 100_000_000;
const DTYPES: Record<string, { type: string; bytes: number }> = {
  F32: { type: "F32", bytes: 4 }, F16: { type: "F16", bytes: 2 }, BF16: { type: "BF16", bytes: 2 },
};
/** The index JSON is small; refuse anything absurd before reading it whole. */
const MAX_INDEX_BYTES = 64 << 20;

/** A tensor in one shard, or (parts) a 3-D expert tensor merged from per-expert 2-D tensors, expert e = parts[e]. */
interface Entry { info: TensorInfo; file: number; parts?: { info: TensorInfo; file: number }[]; }

export interface SafetensorsHeader {
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  dataOffset: number;
}

export function parseSafetensorsHeader(file: PositionedFile): SafetensorsHeader {
  const path = file.path;
  if (file.size < 8) throw fileError(path, `file has ${file.size} bytes, too short for a safetensors header`, 0, "header_size");
  const n = Buffer.from(file.read(0, 8, "header_size")).readBigUInt64LE(0);
  if (n < 2n || n > BigInt(MAX_HEADER) || n > BigInt(file.size - 8)) {
    throw fileError(path, `JSON header size ${n} is outside 2..${Math.min(MAX_HEADER, file.size - 8)} (file has ${file.size} bytes)`, 0, "header_size");
  }
  const text = Buffer.from(file.read(8, Number(n), "header")).toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fileError(path, `JSON header does not parse (${(e as Error).message.split("\n")[0]})`, 8, "header");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw fileError(path, "JSON header is not an object", 8, "header");
  const dataOffset = 8 + Number(n);
  const dataBytes = file.size - dataOffset;
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(json as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw fileError(path, "__metadata__ is not an object", 8, "__metadata__");
      metadata = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
      continue;
    }
    const field = `tensor "${key}"`;
    if (typeof v !== "object" || v === null) throw fileError(path, "entry is not an object", 8, field);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== "string") throw fileError(path, "missing dtype", 8, field);
    const dt = DTYPES[e.dtype];
    if (!dt) throw fileError(path, `dtype ${e.dtype} is not supported (F32, F16, BF16)`, 8, `${field} dtype`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw fileError(path, `shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`, 8, `${field} shape`);
    }
    if (e.shape.length > 4) throw fileError(path, `${e.shape.length} dimensions (at most 4 supported)`, 8, `${field} shape`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw fileError(path, `data_offsets ${JSON.stringify(offs)} is not [begin, end]`, 8, `${field} data_offsets`);
    }
    const [begin, end] = offs as number[];
    const shape = (e.shape as number[]).length ? [...(e.shape as number[])].reverse() : [1]; // ggml order
    let elements = 1;
    for (const d of shape) {
      elements *= d;
      if (!Number.isSafeInteger(elements * dt.bytes)) throw fileError(path, `shape ${JSON.stringify(e.shape)} is too large`, 8, `${field} shape`);
    }
    if (end! < begin! || end! - begin! !== elements * dt.bytes) {
      throw fileError(path, `data_offsets [${begin}, ${end}] hold ${end! - begin!} bytes but ${e.dtype} ${JSON.stringify(e.shape)} needs ${elements * dt.bytes}`, 8, `${field} data_offsets`);
    }
    if (end! > dataBytes) throw fileError(path, `data_offsets end ${end} is past the ${dataBytes} data bytes in the file`, 8, `${field} data_offsets`);
    const cols = shape[0]!;
    tensors.push({
      name: hfToGguf(key), originalName: key, shape, cols, rows: shape.slice(1).reduce((a, b) => a * b, 1),
      type: dt.type, byteSize: end! - begin!, offset: BigInt(dataOffset + begin!), file: path,
    });
  }
  return { tensors, metadata, dataOffset };
}

/** Reads model.safetensors.index.json: shard file names in first-seen order. */
function readIndex(path: string): { metadata: Record<string, unknown>; files: string[] } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw fileError(path, "no such file");
  }
  if (size > MAX_INDEX_BYTES) throw fileError(path, `index is ${size} bytes, too large for a safetensors index`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw fileError(path, `index JSON does not parse (${(e as Error).message.split("\n")[0]})`, 0, "index");
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== "object" || wm === null || Array.isArray(wm)) throw fileError(path, "index has no weight_map object", 0, "weight_map");
  const files: string[] = [];
  for (const [name, f] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof f !== "string" || f.includes("/") || f.includes("\\") || f.startsWith(".")) {
      throw fileError(path, `weight_map["${name}"] = ${JSON.stringify(f)} is not a shard file name`, 0, "weight_map");
    }
    if (!files.includes(f)) files.push(f);
  }
  const md = (json as { metadata?: unknown }).metadata;
  return { metadata: typeof md === "object" && md !== null ? (md as Record<string, unknown>) : {}, files };
}

export class SafetensorsSource implements TensorSource {
  readonly format: SourceFormat = "safetensors";
  readonly metadata: ReadonlyMap<string, unknown>;
  private readonly files: PositionedFile[] = [];
  private readonly entries = new Map<string, Entry>();
  private readonly index: TensorIndex;

  /** path: a .safetensors file or a model.safetensors.index.json. */
  constructor(readonly path: string) {
    const meta = new Map<string, unknown>();
    let shardPaths = [path];
    if (path.endsWith(".json")) {
      const idx = readIndex(path);
      for (const [k, v] of Object.entries(idx.metadata)) meta.set(k, v);
      shardPaths = idx.files.map((f) => join(dirname(path), f));
    }
    const infos: TensorInfo[] = [];
    try {
      shardPaths.forEach((p, fi) => {
        const f = new PositionedFile(p);
        this.files.push(f);
        const h = parseSafetensorsHeader(f);
        for (const [k, v] of Object.entries(h.metadata)) if (!meta.has(k)) meta.set(k, v);
        for (const t of h.tensors) {
          if (this.entries.has(t.name)) throw fileError(p, `tensor "${t.originalName}" (${t.name}) appears twice`, 8, `tensor "${t.originalName}"`);
          this.entries.set(t.name, { info: t, file: fi });
          infos.push(t);
        }
      });
    } catch (e) {
      this.close();
      throw e;
    }
    // hyper-parameters from config.json beside the model, as GGUF keys (for the forward pass)
    try {
      for (const [k, v] of hfConfigMetadata(dirname(path)) ?? []) if (!meta.has(k)) meta.set(k, v);
    } catch (e) {
      this.close();
      throw e;
    }
    this.metadata = meta;
    let merged: TensorInfo[];
    try {
      merged = this.mergeExperts(infos);
    } catch (e) {
      this.close();
      throw e;
    }
    this.index = new TensorIndex(path, merged);
  }

  /**
   * Hugging Face MoE checkpoints store each expert as its own 2-D tensor; llama.cpp's
   * converter stacks them into one 3-D tensor per layer and projection. Expose them
   * the same way (blk.N.ffn_{gate,up,down}_exps.weight, ne = [cols, rows, experts]) so
   * every analysis sees the GGUF's tensors. Experts must be numbered 0..n-1 and share
   * shape and dtype.
   */
  private mergeExperts(infos: TensorInfo[]): TensorInfo[] {
    const groups = new Map<string, { group: string; parts: Map<number, TensorInfo> }>();
    const out: TensorInfo[] = [];
    for (const t of infos) {
      const p = hfExpertPart(t.originalName);
      if (!p) { out.push(t); continue; }
      const g = groups.get(p.merged) ?? { group: p.group, parts: new Map<number, TensorInfo>() };
      groups.set(p.merged, g);
      const other = g.parts.get(p.expert);
      if (other) throw fileError(t.file ?? this.path, `is expert ${p.expert} of ${p.group}, like "${other.originalName}"`, 8, `tensor "${t.originalName}"`);
      g.parts.set(p.expert, t);
    }
    for (const [name, g] of groups) {
      const n = g.parts.size;
      const where = (t: TensorInfo) => ({ file: t.file ?? this.path, field: `tensor "${t.originalName}"` });
      for (const [e, t] of g.parts) {
        if (e >= n) {
          const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !g.parts.has(i));
          throw fileError(where(t).file, `expert ${e} of ${g.group}, but expert${missing.length === 1 ? "" : "s"} ${missing.slice(0, 5).join(", ")} ${missing.length === 1 ? "is" : "are"} missing (experts must be numbered 0..n-1)`, 8, where(t).field);
        }
      }
      const first = g.parts.get(0)!;
      for (const t of g.parts.values()) {
        if (t.shape.length !== 2 || t.type !== first.type || t.shape[0] !== first.shape[0] || t.shape[1] !== first.shape[1]) {
          throw fileError(where(t).file, `${t.type} [${[...t.shape].reverse().join(", ")}] differs from expert 0's ${first.type} [${[...first.shape].reverse().join(", ")}]; experts of ${g.group} must be 2-D of one shape and dtype`, 8, where(t).field);
        }
      }
      if (this.entries.has(name)) {
        throw fileError(this.path, `${g.group} would merge into ${name}, which the file also holds`, 8, `tensor "${this.entries.get(name)!.info.originalName}"`);
      }
      const parts = Array.from({ length: n }, (_, e) => g.parts.get(e)!);
      const [cols, rows] = first.shape as [number, number];
      const info: TensorInfo = {
        name, originalName: g.group, shape: [cols, rows, n], cols, rows: rows * n, type: first.type,
        byteSize: parts.reduce((a, t) => a + t.byteSize, 0),
      };
      this.entries.set(name, { info, file: -1, parts: parts.map((t) => ({ info: t, file: this.entries.get(t.name)!.file })) });
      for (const t of parts) this.entries.delete(t.name);
      out.push(info);
    }
    return out;
  }

  /** The stored pieces holding rows [start, start+count): one for a plain tensor, one per expert touched for a merged one. */
  private pieces(e: Entry, start: number, count: number): { info: TensorInfo; file: number; start: number; count: number; at: number }[] {
    if (!e.parts) return [{ info: e.info, file: e.file, start, count, at: 0 }];
    const per = e.info.shape[1]!;
    const out = [];
    for (let r = start; r < start + count;) {
      const x = Math.floor(r / per), local = r - x * per, n = Math.min(per - local, start + count - r);
      out.push({ ...e.parts[x]!, start: local, count: n, at: r - start });
      r += n;
    }
    return out;
  }

  tensors(): TensorInfo[] { return this.index.list; }
  tensor(name: string): TensorInfo { return this.index.get(name); }

  readRaw(name: string, start = 0, count?: number): Uint8Array {
    const t = this.index.get(name);
    const n = count ?? t.rows - start;
    checkRowRange(this.path, t, start, n);
    const rb = t.cols * (t.type === "F32" ? 4 : 2);
    const pieces = this.pieces(this.entries.get(t.name)!, start, n);
    const read = (p: (typeof pieces)[number]) => this.files[p.file]!.read(Number(p.info.offset!) + p.start * rb, p.count * rb, `tensor "${p.info.originalName}" data`);
    if (pieces.length === 1) return read(pieces[0]!);
    const out = new Uint8Array(n * rb);
    for (const p of pieces) out.set(read(p), p.at * rb);
    return out;
  }

  readRows(name: string, start: number, count: number, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    checkRowRange(this.path, t, start, count);
    if (count * t.cols > 0x3fffffff) throw new QuantscopeError(`${this.path}: ${count} rows of ${t.name} are too many to hold at once; read fewer rows`);
    const rb = t.cols * (t.type === "F32" ? 4 : 2);
    const pieces = this.pieces(this.entries.get(t.name)!, start, count);
    if (pieces.length === 1) {
      const p = pieces[0]!;
      return { rows: count, cols: t.cols, data: readDecodedRows(this.files[p.file]!, Number(p.info.offset!), rb, p.start, p.count, p.info, this.path, into) };
    }
    const data = outputBuffer(count * t.cols, into);
    for (const p of pieces) {
      readDecodedRows(this.files[p.file]!, Number(p.info.offset!), rb, p.start, p.count, p.info, this.path, data.subarray(p.at * t.cols, (p.at + p.count) * t.cols));
    }
    return { rows: count, cols: t.cols, data };
  }

  read(name: string, into?: Float32Array): Matrix {
    return this.readRows(name, 0, this.index.get(name).rows, into);
  }

  close(): void { for (const f of this.files) f.close(); }
}

/** Writes tensors as a safetensors file's bytes (used by tests and `dump`). HF-order shapes. */
export function encodeSafetensors(tensors: { name: string; dtype: "F32" | "F16" | "BF16"; shape: number[]; data: Uint8Array }[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  const raw = Buffer.from(JSON.stringify(header), "utf8");
  const json = Buffer.alloc(Math.ceil(raw.length / 8) * 8, 0x20); // space-padded to 8 bytes
  raw.copy(json);
  const out = Buffer.alloc(8 + json.length + off);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.length;
  }
  return out;
}
