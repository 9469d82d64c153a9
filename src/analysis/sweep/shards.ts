// Sharded sweeps: `sweep --shard K/N` measures a deterministic, size-balanced
// part of the tensors and records what it was run on (the model's identity,
// the options, quantscope's version); `plan --from 'sweep-*.json'` merges the
// parts after checking they are complete, disjoint and from one model and one
// set of options, so N independent jobs (a Slurm array, a Kubernetes indexed
// Job, GNU parallel) give exactly the records of one sweep. docs/scale.md.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Imatrix, TensorSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { PositionedFile } from "../../io/file.js";
import { sweepNotes, type SweepOptions } from "./sweep.js";
import type { SweepPassenger, SweepRecord, SweepResult } from "./types.js";

/** Version of the shard file layout (bumped when what a shard records changes). */
export const SHARD_FORMAT = 1;

/** quantscope's version, from package.json (three levels up from src/analysis/sweep and dist/analysis/sweep). */
export function quantscopeVersion(): string {
  try {
    return String(JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version);
  } catch {
    return "unknown";
  }
}

export interface ShardSpec {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
}

/** What a sweep JSON records about its inputs, so shards can be checked against each other. */
export interface SweepProvenance {
  readonly format: number;
  readonly quantscope: string;
  readonly model: ModelIdentity;
  /** The options that change records (the imatrix by content hash, not path). */
  readonly options: Record<string, unknown>;
}

export interface ModelIdentity {
  readonly path: string;
  /** Size of the model file (the first file of a split GGUF). */
  readonly bytes: number;
  /** sha256 of the bytes before the first tensor's data (GGUF header and metadata), or null. */
  readonly headerSha256: string | null;
  /** sha256 of every tensor's name, type and shape. */
  readonly tensorsSha256: string;
}

export interface ShardInfo extends ShardSpec {
  /** Tensors this shard measured, in sweep order. */
  readonly tensors: readonly string[];
  /** Every tensor of the whole sweep, in sweep order (the same in every shard). */
  readonly all: readonly string[];
}

/** "K/N" -> spec, or a one-line error. */
export function parseShard(s: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(s);
  if (!m) throw new QuantscopeError(`--shard expects K/N (e.g. 3/8), got "${s}"`);
  const index = Number(m[1]), count = Number(m[2]);
  if (count < 1) throw new QuantscopeError(`--shard ${s}: N must be at least 1`);
  if (index < 1 || index > count) throw new QuantscopeError(`--shard ${s}: K must be between 1 and ${count}`);
  return { index, count };
}

/**
 * Splits tensors into `count` shards balanced by size: largest first, each to
 * the shard with the fewest elements so far (ties: the lower shard). Each
 * shard lists its tensors in the original order. Deterministic.
 */
export function shardPartition(tensors: readonly { name: string; elements: number }[], count: number): string[][] {
  const order = tensors.map((t, i) => ({ ...t, i })).sort((a, b) => b.elements - a.elements || a.i - b.i);
  const load = new Array<number>(count).fill(0);
  const members: number[][] = Array.from({ length: count }, () => []);
  for (const t of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s]! < load[best]!) best = s;
    load[best] += t.elements;
    members[best]!.push(t.i);
  }
  return members.map((m) => m.sort((a, b) => a - b).map((i) => tensors[i]!.name));
}

/** The model's identity: file size, header hash, tensor list hash. */
export function modelIdentity(src: TensorSource): ModelIdentity {
  const tensors = src.tensors();
  const tensorsSha256 = sha256(JSON.stringify(tensors.map((t) => [t.name, t.type, t.shape])));
  let bytes = 0;
  let headerSha256: string | null = null;
  try {
    bytes = statSync(src.path).isFile() ? statSync(src.path).size : 0;
    const inFirst = tensors.filter((t) => t.offset !== undefined && (t.file === undefined || t.file === src.path));
    if (bytes > 0 && inFirst.length) {
      const start = Math.min(...inFirst.map((t) => Number(t.offset)), 64 << 20);
      const f = new PositionedFile(src.path);
      try {
        headerSha256 = sha256(f.read(0, Math.min(start, bytes), "header"));
      } finally {
        f.close();
      }
    }
  } catch {
    // folders and unreadable paths: the tensor list identifies the model
  }
  return { path: src.path, bytes, headerSha256, tensorsSha256 };
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Content hash of an imatrix (its entries), independent of the path. */
export function imatrixSha256(im: Imatrix): string {
  const h = createHash("sha256");
  for (const [name, e] of [...im.entries].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    h.update(name);
    h.update(new Uint8Array(e.values.buffer, e.values.byteOffset, e.values.byteLength));
  }
  return h.digest("hex");
}

/** The options of a sweep that change its records. */
export function recordedOptions(opts: SweepOptions, types: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    types: [...types],
    imatrixSha256: opts.imatrix ? imatrixSha256(opts.imatrix) : null,
    activations: opts.activations?.dir ?? null,
    tensors: opts.tensors?.source ?? null,
    sample: opts.sample ?? 1,
    seed: opts.seed ?? 1,
    flatten: opts.flatten ?? false,
    quantizeWithImatrix: opts.quantizeWithImatrix ?? true,
    ...extra,
  };
}

export function provenance(src: TensorSource, opts: SweepOptions, types: readonly string[], extra: Record<string, unknown> = {}): SweepProvenance {
  return { format: SHARD_FORMAT, quantscope: quantscopeVersion(), model: modelIdentity(src), options: recordedOptions(opts, types, extra) };
}

/** Paths of the files matching each pattern (`*` and `?` in the file name part), sorted; a plain path is itself. */
export function expandPatterns(patterns: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of patterns) {
    const name = basename(p);
    if (!/[*?]/.test(name)) { out.push(p); continue; }
    const dir = dirname(p);
    const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch {
      throw new QuantscopeError(`--from ${p}: no such folder ${dir}`);
    }
    const hit = files.filter((f) => re.test(f)).sort();
    if (!hit.length) throw new QuantscopeError(`--from ${p}: no file matches`);
    out.push(...hit.map((f) => (dir === "." && !p.startsWith("./") ? f : join(dir, f))));
  }
  return [...new Set(out)];
}

const NUMERIC = new Set(["bpw", "bytes", "rmse", "relRmse", "maxAbsErr", "medianAbsErr", "p95AbsErr", "outputRelErr", "sensitivity", "measuredKl"]);

/** A sweep JSON file (as `sweep --json` writes it), NaN restored where JSON has null. */
export function readSweepJson(path: string): SweepResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new QuantscopeError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let res: SweepResult;
  try {
    res = JSON.parse(text);
  } catch (e) {
    throw new QuantscopeError(`${path}: not a sweep JSON file (${(e as Error).message})`);
  }
  if (!res || typeof res !== "object" || !Array.isArray(res.records) || !Array.isArray(res.passengers)) {
    throw new QuantscopeError(`${path}: not a sweep JSON file (no records)`);
  }
  if (!res.provenance || !res.shard) {
    throw new QuantscopeError(`${path}: records no model identity or shard (written by an older quantscope, or not by sweep --json); re-run the sweep`);
  }
  const records = res.records.map((r) => {
    const o: Record<string, unknown> = { ...r };
    for (const k of NUMERIC) if (o[k] === null) o[k] = NaN;
    return o as unknown as SweepRecord;
  });
  return { ...res, records };
}

/**
 * Merges the parts of a sharded sweep into the SweepResult one unsharded sweep
 * gives, after checking every part is from the same model (identity), the
 * same options and quantscope version, and that the shards are exactly 1..N,
 * each holding exactly its partition's tensors. `model`: the identity of the
 * model file at hand, which must match too.
 */
export function mergeShards(parts: readonly { path: string; res: SweepResult }[], model?: ModelIdentity): SweepResult {
  if (!parts.length) throw new QuantscopeError("--from: no sweep files");
  const first = parts[0]!;
  const p0 = first.res.provenance!;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const idOf = (m: ModelIdentity) => ({ bytes: m.bytes, headerSha256: m.headerSha256, tensorsSha256: m.tensorsSha256 });
  for (const { path, res } of parts) {
    const p = res.provenance!;
    if (p.format !== SHARD_FORMAT) throw new QuantscopeError(`${path}: shard format ${p.format}, this quantscope reads format ${SHARD_FORMAT}; re-run the sweep`);
    if (p.quantscope !== p0.quantscope) throw new QuantscopeError(`${path}: written by quantscope ${p.quantscope}, ${first.path} by ${p0.quantscope}; sweep every shard with the same version`);
    if (!same(idOf(p.model), idOf(p0.model))) throw new QuantscopeError(`${path}: from a different model than ${first.path} (${p.model.path} vs ${p0.model.path}: file size or header differs)`);
    const diff = Object.keys({ ...p.options, ...p0.options }).find((k) => !same(p.options[k], p0.options[k]));
    if (diff) throw new QuantscopeError(`${path}: swept with different options than ${first.path} (${diff}: ${JSON.stringify(p.options[diff])} vs ${JSON.stringify(p0.options[diff])})`);
    if (res.shard!.count !== first.res.shard!.count) throw new QuantscopeError(`${path}: is shard ${res.shard!.index}/${res.shard!.count}, ${first.path} is one of ${first.res.shard!.count}`);
    if (!same(res.shard!.all, first.res.shard!.all)) throw new QuantscopeError(`${path}: its tensor list differs from ${first.path}'s`);
  }
  if (model && !same(idOf(model), idOf(p0.model))) {
    throw new QuantscopeError(`${first.path}: swept ${p0.model.path}, not ${model.path} (file size or header differs)`);
  }
  const count = first.res.shard!.count;
  const all = first.res.shard!.all;
  const seen = new Map<number, string>();
  for (const { path, res } of parts) {
    const k = res.shard!.index;
    if (seen.has(k)) throw new QuantscopeError(`${path}: shard ${k}/${count} also comes from ${seen.get(k)} (overlapping shards)`);
    seen.set(k, path);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((k) => !seen.has(k));
  if (missing.length) throw new QuantscopeError(`--from: missing shard${missing.length > 1 ? "s" : ""} ${missing.map((k) => `${k}/${count}`).join(", ")} (have ${parts.length} of ${count})`);
  const types = first.res.types;
  const byTensor = new Map<string, SweepRecord[]>();
  for (const { path, res } of parts) {
    const mine = new Set(res.shard!.tensors);
    for (const r of res.records) {
      if (!mine.has(r.tensor)) throw new QuantscopeError(`${path}: has records of ${r.tensor}, which is not in shard ${res.shard!.index}/${count}`);
      const list = byTensor.get(r.tensor) ?? [];
      list.push(r);
      byTensor.set(r.tensor, list);
    }
    for (const t of mine) {
      const n = byTensor.get(t)?.length ?? 0;
      if (n !== types.length) throw new QuantscopeError(`${path}: ${t} has ${n} records, expected ${types.length} (one per type; truncated file?)`);
    }
  }
  const covered = all.filter((t) => byTensor.has(t)).length;
  if (covered !== all.length) throw new QuantscopeError(`--from: ${all.length - covered} tensors have no records in any shard`);
  const records = all.flatMap((t) => byTensor.get(t)!);
  const passengers: SweepPassenger[] = first.res.passengers.slice();
  const seconds = parts.reduce((s, p) => s + p.res.seconds, 0);
  const merged: SweepResult = { ...first.res, records, passengers, seconds, shard: { index: 1, count: 1, tensors: all, all } };
  const o = p0.options;
  const notes = sweepNotes(records, {
    imatrix: o.imatrixSha256 ?? undefined, activations: o.activations ?? undefined,
    sample: o.sample === 1 ? undefined : Number(o.sample), seed: Number(o.seed),
  });
  return { ...merged, notes };
}
