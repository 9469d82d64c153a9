// llama.cpp importance matrices: the GGUF format (<weight>.in_sum2 and
// <weight>.counts per weight) and the legacy .dat format. Both yield, per
// weight, the per-column mean of squared activations in float32, exactly as
// llama-quantize computes it (in_sum2 / counts, or value / ncall).
import { fileError, QuantscopeError } from "./errors.js";
import { HeaderCursor, PositionedFile } from "./file.js";
import { GgufSource } from "./gguf.js";
import type { Imatrix, ImatrixEntry } from "./source.js";

/** An entry with what the file stores, for statistics that use the raw sums. */
export interface ImatrixEntryRaw extends ImatrixEntry {
  /** As stored: in_sum2 (GGUF) or (sum / count) * ncall (.dat). */
  raw: Float32Array;
  /** Divisor per matrix (one for dense weights, one per expert for MoE): counts (GGUF) or ncall (.dat). */
  divisors: number[];
}

export function readImatrix(path: string): Imatrix {
  const f = new PositionedFile(path);
  let isGguf: boolean;
  try {
    isGguf = f.size >= 4 && Buffer.from(f.read(0, 4, "magic")).toString("latin1") === "GGUF";
  } catch (e) {
    f.close();
    throw e;
  }
  if (isGguf) {
    f.close();
    return readGgufImatrix(path);
  }
  try {
    return readDatImatrix(f);
  } finally {
    f.close();
  }
}

function readGgufImatrix(path: string): Imatrix {
  const src = new GgufSource(path);
  try {
    const type = src.metadata.get("general.type");
    const tensors = src.tensors();
    const sums = tensors.filter((t) => t.name.endsWith(".in_sum2"));
    if (sums.length === 0) {
      // Point at tensor_count (byte 8 of every GGUF): the tensor list is what lacks the entries.
      throw fileError(path, `not an imatrix: none of its ${tensors.length} tensors is a <weight>.in_sum2 (general.type = ${JSON.stringify(type ?? null)}; is this a model?)`, 8, "tensor_count");
    }
    const entries = new Map<string, ImatrixEntryRaw>();
    for (const s of sums) {
      const name = s.name.slice(0, -".in_sum2".length);
      const cname = `${name}.counts`;
      const field = `tensor "${s.name}"`;
      if (s.type !== "F32") throw fileError(path, `in_sum2 must be F32, is ${s.type}`, s.offset, field);
      const ct = tensors.find((t) => t.name === cname);
      if (!ct) throw fileError(path, `has no matching ${cname}`, s.offset, field);
      if (ct.type !== "F32") throw fileError(path, `counts must be F32, is ${ct.type}`, ct.offset, `tensor "${cname}"`);
      const nMat = s.rows; // ne1 = number of experts (1 for dense weights)
      if (ct.cols * ct.rows !== nMat) {
        throw fileError(path, `has ${ct.cols * ct.rows} counts for ${nMat} matrices in ${s.name}`, ct.offset, `tensor "${cname}"`);
      }
      if (ct.shape.length > 1 && ct.cols !== 1) {
        throw fileError(path, `counts shape [${ct.shape.join(", ")}] should be [1, ${nMat}] (one count per expert)`, ct.offset, `tensor "${cname}"`);
      }
      const stored = src.read(cname).data;
      // common_imatrix_load rounds each count to an integer (std::lround); llama-quantize divides by it as float.
      const counts = Array.from(stored, (c) => Math.round(c));
      for (let i = 0; i < counts.length; i++) {
        if (!(stored[i]! >= 0) || !Number.isFinite(stored[i]!)) throw fileError(path, `count ${stored[i]} of matrix ${i} is not a non-negative number`, ct.offset, `tensor "${cname}"`);
      }
      const raw = src.read(s.name).data;
      const entry = makeEntry(name, raw, counts, s.cols, counts.reduce((a, b) => a + b, 0), 1);
      if (nMat > 1) entry.experts = nMat;
      entries.set(name, entry);
    }
    const ds = src.metadata.get("imatrix.datasets");
    const cc = src.metadata.get("imatrix.chunk_count");
    const cs = src.metadata.get("imatrix.chunk_size");
    return {
      path, format: "gguf", entries,
      datasets: Array.isArray(ds) ? ds.map(String) : [],
      chunkCount: typeof cc === "number" ? cc : undefined,
      chunkSize: typeof cs === "number" ? cs : undefined,
    };
  } finally {
    src.close();
  }
}

/**
 * values_j = raw_j / divisor of its matrix, float32 division, as llama-quantize's
 * load_imatrix: where the divisor is 0 (an expert no token was routed to) every
 * value of that matrix is `ifZero` (GGUF: 1, i.e. no weighting; never reached for
 * .dat, whose ncall must be > 0).
 */
function makeEntry(name: string, raw: Float32Array, divisors: number[], cols: number, count: number, ifZero: number): ImatrixEntryRaw {
  const values = new Float32Array(raw.length);
  for (let m = 0; m < divisors.length; m++) {
    const d = Math.fround(divisors[m]!);
    for (let j = m * cols; j < (m + 1) * cols; j++) values[j] = d > 0 ? raw[j]! / d : ifZero;
  }
  return { name, values, count, counts: divisors.slice(), raw, divisors };
}

/**
 * Expert `expert`'s importance vector (a view, length cols) of an entry for a tensor
 * with `cols` columns: values[expert*cols, (expert+1)*cols). Expert 0 of a dense entry
 * is the whole vector. Errors name the entry when the sizes do not fit.
 */
export function expertImatrix(entry: ImatrixEntry, cols: number, expert: number): Float32Array {
  const n = entry.values.length / cols;
  if (!Number.isInteger(n) || n < 1) {
    throw new QuantscopeError(`imatrix entry ${entry.name} has ${entry.values.length} values, not a multiple of the tensor's ${cols} columns`);
  }
  if (!Number.isInteger(expert) || expert < 0 || expert >= n) {
    throw new QuantscopeError(`imatrix entry ${entry.name} has ${n} expert vector${n === 1 ? "" : "s"} of ${cols}; there is no expert ${expert}`);
  }
  return entry.values.subarray(expert * cols, (expert + 1) * cols);
}

/** Tokens expert `expert` saw (GGUF counts; a .dat or dense entry has one count for all). */
export function expertTokens(entry: ImatrixEntry, expert: number): number {
  const c = entry.counts;
  if (!c || c.length <= 1) return entry.count;
  return c[expert] ?? 0;
}

function readDatImatrix(f: PositionedFile): Imatrix {
  const path = f.path;
  const c = new HeaderCursor(f);
  if (f.size < 4) throw fileError(path, `file has ${f.size} bytes: neither a GGUF imatrix nor a legacy .dat`, 0, "n_entries");
  const n = c.i32("n_entries");
  // Each entry needs >= 4+1+4+4+4 bytes.
  if (n <= 0 || n * 17 > c.remaining) throw fileError(path, `n_entries ${n} is not a positive count that fits in the ${c.remaining} bytes left (not an imatrix?)`, 0, "n_entries");
  const entries = new Map<string, ImatrixEntryRaw>();
  for (let i = 0; i < n; i++) {
    const at = c.pos;
    const len = c.i32(`entry #${i} name length`);
    if (len <= 0 || len > c.remaining || len > 4096) throw fileError(path, `name length ${len} is invalid`, at, `entry #${i} name length`);
    const name = c.bytes(len, `entry #${i} name`).toString("utf8");
    const field = `entry "${name}"`;
    const ncAt = c.pos;
    const ncall = c.i32(`${field} ncall`);
    if (ncall <= 0) throw fileError(path, `ncall ${ncall} must be > 0`, ncAt, `${field} ncall`);
    const nvAt = c.pos;
    const nval = c.i32(`${field} nval`);
    if (nval <= 0 || nval * 4 > c.remaining) throw fileError(path, `nval ${nval} is not a positive count that fits in the ${c.remaining} bytes left`, nvAt, `${field} nval`);
    if (entries.has(name)) throw fileError(path, `duplicate entry "${name}"`, at, field);
    const bytes = c.bytes(nval * 4, `${field} values`);
    const raw = new Float32Array(nval);
    for (let j = 0; j < nval; j++) raw[j] = bytes.readFloatLE(j * 4);
    entries.set(name, makeEntry(name, raw, [ncall], nval, ncall, 0));
  }
  let chunkCount: number | undefined;
  const datasets: string[] = [];
  if (c.remaining >= 4) {
    chunkCount = c.i32("last_chunk");
    if (c.remaining >= 4) {
      const at = c.pos;
      const len = c.i32("dataset name length");
      if (len < 0 || len > c.remaining) throw fileError(path, `dataset name length ${len} exceeds the ${c.remaining} bytes left`, at, "dataset name length");
      datasets.push(c.bytes(len, "dataset name").toString("utf8"));
    }
  }
  if (c.remaining > 0) throw fileError(path, `${c.remaining} unexpected bytes after the last entry`, c.pos, "trailer");
  return { path, format: "dat", entries, datasets, chunkCount };
}

/** The raw view of an entry from readImatrix (always present for entries this module made). */
export function rawEntry(e: ImatrixEntry): ImatrixEntryRaw {
  if (!("raw" in e)) throw new QuantscopeError(`imatrix entry ${e.name} has no raw sums`);
  return e as ImatrixEntryRaw;
}

/** Whether a file is an imatrix (GGUF with general.type "imatrix" or .in_sum2 tensors, or a legacy .dat). */
export function looksLikeImatrix(path: string): boolean {
  const f = new PositionedFile(path);
  try {
    if (f.size >= 4 && Buffer.from(f.read(0, 4, "magic")).toString("latin1") === "GGUF") {
      const src = new GgufSource(path);
      try {
        return src.metadata.get("general.type") === "imatrix" || src.tensors().some((t) => t.name.endsWith(".in_sum2"));
      } finally {
        src.close();
      }
    }
    return path.toLowerCase().endsWith(".dat");
  } finally {
    f.close();
  }
}
