// The whole-model sweep: every quantizable 2-D weight tensor, streamed one at
// a time, quantized with the real codecs to every candidate type, with error
// statistics, activation-aware errors and the predicted KL (sensitivity).
import type { Imatrix, TensorSource } from "../../io/source.js";
import type { Matrix } from "../../io/f32bin.js";
import { QuantscopeError } from "../../io/errors.js";
import { FACT_KEYS } from "../../io/model-json.js";
import { expertTokens } from "../../io/imatrix.js";
import { dequantize, dequantizeInto, quantize, quantizedSize, quantizeInto, typeInfo } from "../../quant/index.js";
import { ggmlTypeByName } from "../../ggml/types.js";
import { allowsQuantization, fallbackType, layerOf, tensorBytes, tensorCategory } from "../plan/mixes.js";
import { gainKey, predictKl } from "../sensitivity/gain-table.js";
import { quantileCiIndices, quantileIndex, ranksOfNonNegative, ratioCi, sampleRows } from "./stats.js";
import type { ActivationDir } from "./activations.js";
import { measureTensor } from "./fast.js";
import { withModelScale } from "../sensitivity/scale.js";
import { provenance, shardPartition, type ShardSpec } from "./shards.js";
import { measureKl, type KlHarness } from "../../model/forward/kl.js";
import { matmul } from "../../model/forward/ops.js";
import type { Ci95, OutputErrorSource, SweepPassenger, SweepRecord, SweepResult } from "./types.js";
import type { CalibData } from "../../model/calibrate/calib-file.js";
import { predictKlFromCalib, predSourceNote, tensorCalib, type TensorCalib } from "../../model/calibrate/predict.js";

import { DEFAULT_SWEEP_TYPES } from "./types.js";
import { factsNote, markUncertain, modelFacts } from "../sensitivity/model-facts.js";
export { DEFAULT_SWEEP_TYPES };

/**
 * How far a predicted KL of an expert tensor may be off, either way: the gain
 * is the dense FFN kind's, fitted on two dense models whose cross-model error
 * was already a factor ~3.5 (docs/sweep.md), and routing (each token sees k of
 * E experts, weighted by the router) is not modelled. A judgement, documented
 * in docs/sweep.md, not a fitted interval.
 */
export const EXPERT_UNCERTAINTY = 10;

export interface SweepOptions {
  readonly types?: readonly string[];
  readonly imatrix?: Imatrix;
  readonly activations?: ActivationDir;
  /** Only tensors whose name matches. */
  readonly tensors?: RegExp;
  /** Fraction of rows to quantize (seeded); 1 = exact. */
  readonly sample?: number;
  readonly seed?: number;
  /**
   * quantize-stats mode: quantize each tensor as one flat row of all its
   * elements (no fallback), as llama.cpp's test-quantize-stats does.
   */
  readonly flatten?: boolean;
  /** Pass the imatrix to the quantizer (default true when one is given). */
  readonly quantizeWithImatrix?: boolean;
  readonly onProgress?: (done: number, total: number, label: string) => void;
  /** Measure the real single-tensor KL with the reference forward pass (exact sweeps only). */
  readonly kl?: KlHarness;
  /** Measure only this part of the tensors (`--shard K/N`, see sweep/shards.ts). */
  readonly shard?: ShardSpec;
  /** Calibration statistics (quantscope calibrate): predKL from them, source "calib" (docs/sensitivity.md). */
  readonly calib?: CalibData;
}

/** The tensors of a sweep, the ones this run measures (all, or its shard's) with their index in the whole list, and the passengers. */
export function sweepWork(src: TensorSource, opts: SweepOptions): { all: string[]; mine: { name: string; index: number }[]; passengers: SweepPassenger[] } {
  const { swept, passengers } = sweepableTensors(src, opts.tensors);
  if (swept.length === 0) throw new QuantscopeError(`${src.path}: no 2-D weight tensors to sweep${opts.tensors ? ` match ${opts.tensors}` : ""}`);
  let mine = swept.map((name, index) => ({ name, index }));
  if (opts.shard) {
    const part = new Set(shardPartition(swept.map((name) => { const t = src.tensor(name); return { name, elements: t.rows * t.cols }; }), opts.shard.count)[opts.shard.index - 1]);
    mine = mine.filter((t) => part.has(t.name));
  }
  return { all: swept, mine, passengers };
}

/** Tensors a sweep measures: 2-D weights llama-quantize would quantize. */
export function sweepableTensors(src: TensorSource, filter?: RegExp): { swept: string[]; passengers: SweepPassenger[] } {
  const swept: string[] = [];
  const passengers: SweepPassenger[] = [];
  for (const t of src.tensors()) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    // 2-D weights, and 3-D expert tensors (ne = [cols, rows per expert, experts]), as llama-quantize quantizes them
    const quantizable = (t.shape.length === 2 || t.shape.length === 3) && allowsQuantization(t.name, t.shape.length);
    if (quantizable && (!filter || filter.test(t.name))) swept.push(t.name);
    else {
      // Not quantized by llama-quantize: 1-D tensors are written as F32 in a K-mix file.
      const keep = t.shape.length < 2 ? "F32" : t.type.toUpperCase();
      passengers.push({
        tensor: t.name, type: keep, elements,
        bytes: ggmlTypeByName(keep) ? tensorBytes(keep, t.shape) : t.byteSize,
        reason: quantizable ? "filtered out by --tensors" : t.shape.length < 2 ? "1-D (norm/bias): stays F32" : "not quantized by llama-quantize",
      });
    }
  }
  return { swept, passengers };
}

/** Everything about one tensor that does not depend on the type. */
export interface TensorContext {
  readonly name: string;
  readonly kind: string;
  readonly layer: number | null;
  readonly nLayers: number;
  /** The measured rows of the tensor (all rows when exact), row-major. */
  readonly W: Matrix;
  /** Rows of the whole tensor (W.rows when exact). */
  readonly totalRows: number;
  readonly imatrix: Float32Array | null;
  readonly activations: Matrix | null;
  /** Rows measured (all rows when exact). */
  readonly rows: Int32Array;
  readonly flatten: boolean;
  readonly quantizeWithImatrix: boolean;
  /** The model has per-head QK-norm (changes the q/k gains). */
  readonly qkNorm: boolean;
  /** No output.weight: token_embd doubles as the output head (its errors then reach the logits directly). */
  readonly tiedEmbeddings: boolean;
  /** Experts of a 3-D expert tensor (ne2); 1 for a 2-D tensor. `imatrix` then holds cols × experts values. */
  readonly experts?: number;
  /** Tokens per expert from the imatrix counts (expert tensors with an imatrix). */
  readonly expertTokens?: readonly number[];
  /** This tensor's calibration statistics, when the sweep has them. */
  readonly calib?: TensorCalib | null;
  /** Tensor row index of each row of W when rows were sampled (W holds only those). */
  readonly tensorRows?: Int32Array;
}

/** Per-row sums used by all ratio estimators (one entry per measured row). */
interface RowSums {
  w2: Float64Array;      // Σ W²
  vw2: Float64Array;     // Σ v_j W²
  xw2: Float64Array;     // Σ_t (x_t·w)²
}

export function rowSums(ctx: TensorContext): RowSums {
  const { W, imatrix: v, activations: X, rows } = ctx;
  const n = W.cols;
  const k = rows.length;
  const s: RowSums = { w2: new Float64Array(k), vw2: new Float64Array(k), xw2: new Float64Array(k) };
  for (let r = 0; r < k; r++) {
    const o = rows[r]! * n;
    let a = 0, b = 0;
    for (let j = 0; j < n; j++) {
      const w = W.data[o + j]!;
      a += w * w;
      if (v) b += v[j]! * w * w;
    }
    s.w2[r] = a;
    s.vw2[r] = b;
  }
  if (X) {
    // rows are contiguous (identity order): whole blocks at a time
    for (let r = 0; r < k; r += BLOCK_ROWS) {
      const m = Math.min(BLOCK_ROWS, k - r);
      projectedEnergies(X, W.data.subarray(r * n, (r + m) * n), m, n, s.xw2, r);
    }
  }
  return s;
}

const BLOCK_ROWS = 64;

/** out[at + i] = Σ_t (x_t · row_i)² for m rows of length n (one blocked matmul X·rowsᵀ). */
function projectedEnergies(X: Matrix, rowsData: Float32Array, m: number, n: number, out: Float64Array, at: number): void {
  const Y = matmul(X.data, X.rows, n, rowsData, m);
  for (let i = 0; i < m; i++) {
    let t2 = 0;
    for (let t = 0; t < X.rows; t++) { const y = Y[t * m + i]!; t2 += y * y; }
    out[at + i] = t2;
  }
}

/** Gathers the measured rows into one contiguous matrix. */
function gatherRows(W: Matrix, rows: Int32Array): Float32Array {
  if (rows.length === W.rows) return W.data;
  const out = new Float32Array(rows.length * W.cols);
  for (let r = 0; r < rows.length; r++) out.set(W.data.subarray(rows[r]! * W.cols, (rows[r]! + 1) * W.cols), r * W.cols);
  return out;
}

/** Round trip through the codec: the dequantized measured rows. */
export function roundTrip(type: string, src: Float32Array, rows: number, cols: number, imatrix?: Float32Array): Float32Array {
  if (type === "F32") return src.slice();
  const q = quantize(type, src, rows, cols, imatrix);
  return dequantize(type, q, rows, cols);
}

/**
 * Arrays measure() reuses from one (tensor, type) pair to the next. A fresh
 * tensor-sized array per pair costs one page fault per 4 KiB on first touch
 * (10-40 us each in a VM: more than the quantization itself for the fast
 * types); grown arrays are kept, so a sweep maps them once.
 */
export class MeasureScratch {
  private q = new Uint8Array(0);
  private deq = new Float32Array(0);
  private abs = new Float32Array(0);
  bytes(n: number): Uint8Array {
    if (this.q.length < n) this.q = new Uint8Array(n);
    return this.q.subarray(0, n);
  }
  dequantized(n: number): Float32Array {
    if (this.deq.length < n) this.deq = new Float32Array(n);
    return this.deq.subarray(0, n);
  }
  absErrors(n: number): Float32Array {
    if (this.abs.length < n) this.abs = new Float32Array(n);
    return this.abs.subarray(0, n);
  }
}

/** roundTrip() into scratch arrays (valid until the scratch is used again). */
function roundTripScratch(type: string, src: Float32Array, rows: number, cols: number, imatrix: Float32Array | undefined, scratch: MeasureScratch): Float32Array {
  const out = scratch.dequantized(src.length);
  if (type === "F32") {
    out.set(src);
    return out;
  }
  const q = quantizeInto(type, src, rows, cols, scratch.bytes(quantizedSize(type, rows, cols)), imatrix);
  return dequantizeInto(type, q, rows, cols, out);
}

/**
 * Measures one (tensor, type) pair. `sums` is rowSums(ctx), shared across types;
 * `scratch` holds the working arrays (pass one per sweep to reuse them).
 */
export function measure(ctx: TensorContext, requested: string, sums = rowSums(ctx), kl?: KlHarness, scratch = new MeasureScratch()): SweepRecord {
  const { W, rows } = ctx;
  const N = ctx.totalRows;
  const shapeNe = [W.cols, N];
  const key = ctx.tiedEmbeddings && ctx.kind === "token_embd" ? "output" : gainKey(ctx.kind, ctx.qkNorm);
  const base = {
    tensor: ctx.name, kind: ctx.kind, gainKey: key, layer: ctx.layer, nLayers: ctx.nLayers, rows: N, cols: W.cols,
    requestedType: requested.toUpperCase(), sampleFraction: rows.length / N,
  };
  let type: string;
  let fallback = false;
  try {
    if (ctx.flatten) {
      const t = typeInfo(requested);
      if ((W.rows * W.cols) % t.blockSize !== 0) throw new QuantscopeError(`${W.rows * W.cols} elements are not a multiple of ${t.blockSize}`);
      type = t.name;
    } else {
      const fb = fallbackType(requested, W.cols);
      type = fb.type;
      fallback = fb.fallback;
    }
  } catch (e) {
    if (!(e instanceof QuantscopeError)) throw e;
    return skipped(base, requested.toUpperCase(), e.message);
  }
  const info = ggmlTypeByName(type)!;
  const bytes = ctx.flatten ? (W.rows * W.cols / info.blockSize) * info.typeSize : tensorBytes(type, shapeNe);
  const useIm = ctx.quantizeWithImatrix && ctx.imatrix !== null;
  const src = gatherRows(W, rows);
  let deq: Float32Array;
  try {
    deq = ctx.flatten
      ? roundTripScratch(type, src, 1, src.length, undefined, scratch)
      : roundTripScratch(type, src, rows.length, W.cols, useIm ? ctx.imatrix! : undefined, scratch);
  } catch (e) {
    if (!(e instanceof QuantscopeError)) throw e;
    return skipped(base, type, e.message);
  }
  const n = W.cols;
  const k = rows.length;
  const e2 = new Float64Array(k), ve2 = new Float64Array(k), xe2 = new Float64Array(k);
  const abs = scratch.absErrors(src.length);
  const v = ctx.imatrix;
  const X = ctx.activations;
  const errBlock = X ? new Float32Array(BLOCK_ROWS * n) : null;
  let max = 0;
  for (let r = 0; r < k; r++) {
    const o = r * n;
    let a = 0, b = 0;
    const eo = (r % BLOCK_ROWS) * n;
    for (let j = 0; j < n; j++) {
      const d = src[o + j]! - deq[o + j]!;
      if (errBlock) errBlock[eo + j] = d;
      const ad = Math.abs(d);
      abs[o + j] = ad;
      if (ad > max) max = ad;
      a += d * d;
      if (v) b += v[j]! * d * d;
    }
    e2[r] = a;
    ve2[r] = b;
    if (X && (r % BLOCK_ROWS === BLOCK_ROWS - 1 || r === k - 1)) {
      const m = (r % BLOCK_ROWS) + 1;
      projectedEnergies(X, errBlock!.subarray(0, m * n), m, n, xe2, r - m + 1);
    }
  }
  const measuredKl = kl && k === N && !ctx.flatten ? measureKl(kl, new Map([[ctx.name, deq]])) : undefined;
  // calibration statistics are per tensor row: map the measured rows back to the tensor's
  const tensorRows = ctx.tensorRows ? Int32Array.from(rows, (r) => ctx.tensorRows![r]!) : rows;
  const calibKl = ctx.calib && !ctx.flatten ? predictKlFromCalib(ctx.calib, src, deq, tensorRows, n, N) : undefined;
  return finishRecord(ctx, base, type, fallback, useIm, bytes, { e2, ve2, xe2: X ? xe2 : null, max, ranks: (r) => ranksOfNonNegative(abs, r) }, sums, measuredKl, calibKl);
}

/** What one (tensor, type) round trip left behind, per measured row. */
export interface ErrorSums {
  readonly e2: Float64Array;
  readonly ve2: Float64Array;
  /** Σ_t (x_t·e)² per row, with activations; else null. */
  readonly xe2: Float64Array | null;
  readonly max: number;
  /** Order statistics (0-based ranks) of |E| over the measured elements. */
  ranks(r: number[]): number[];
}

type RecordBase = Pick<SweepRecord, "tensor" | "kind" | "gainKey" | "layer" | "nLayers" | "rows" | "cols" | "requestedType" | "sampleFraction">;

/** The record from the per-row error sums (shared by the TypeScript and the WASM error passes). */
export function finishRecord(
  ctx: Pick<TensorContext, "kind" | "layer" | "nLayers" | "qkNorm" | "imatrix" | "totalRows" | "W">, base: RecordBase,
  type: string, fallback: boolean, useIm: boolean, bytes: number, es: ErrorSums, sums: RowSums, measuredKl?: number,
  calibKl?: { value: number; lo: number; hi: number },
): SweepRecord {
  const info = ggmlTypeByName(type)!;
  const N = ctx.totalRows;
  const { e2, ve2, xe2, max } = es;
  const k = e2.length;
  const n = ctx.W.cols;
  const v = ctx.imatrix;
  const key = base.gainKey;
  const cols = new Float64Array(k).fill(n);
  const mse = ratioCi(e2, cols, N);
  const rel2 = ratioCi(e2, sums.w2, N);
  const imMse = v ? ratioCi(ve2, cols, N) : null;
  let out2: { value: number; lo: number; hi: number };
  let source: OutputErrorSource;
  if (xe2) { out2 = ratioCi(xe2, sums.xw2, N); source = "activations"; }
  else if (v) { out2 = ratioCi(ve2, sums.vw2, N); source = "imatrix"; }
  else { out2 = rel2; source = "none"; }
  const sampled = k < N;
  let median: number, p95: number;
  let medCi: { lo: number; hi: number } | null = null, p95Ci: { lo: number; hi: number } | null = null;
  {
    // estimates (and, for a sample, their interval ends) in one histogram pass
    const n = k * ctx.W.cols;
    const ranks = [quantileIndex(n, 0.5), quantileIndex(n, 0.95)];
    if (sampled) ranks.push(...quantileCiIndices(n, 0.5), ...quantileCiIndices(n, 0.95));
    const v = es.ranks(ranks);
    median = v[0]!; p95 = v[1]!;
    if (sampled) { medCi = { lo: v[2]!, hi: v[3]! }; p95Ci = { lo: v[4]!, hi: v[5]! }; }
  }
  const sens = (r2: number) => calibKl?.value ?? predictKl({ kind: key === "output" ? "output" : ctx.kind, layer: ctx.layer, nLayers: ctx.nLayers, outputRelErr: Math.sqrt(r2), source, qkNorm: ctx.qkNorm });
  const sq = (x: { lo: number; hi: number }): Ci95 => [Math.sqrt(x.lo), Math.sqrt(x.hi)];
  return {
    ...base, type, fallback, bpw: (info.typeSize * 8) / info.blockSize, bytes,
    rmse: Math.sqrt(mse.value), relRmse: Math.sqrt(rel2.value), maxAbsErr: max,
    medianAbsErr: median, p95AbsErr: p95,
    imatrixMse: imMse ? imMse.value : null,
    outputRelErr: Math.sqrt(out2.value), outputErrorSource: source,
    sensitivity: sens(out2.value),
    sensitivitySource: calibKl !== undefined ? "calib" : source === "none" ? "weights" : source,
    usedImatrix: useIm,
    ...(measuredKl !== undefined ? { measuredKl } : {}),
    ...(sampled ? {
      ci95: {
        rmse: sq(mse), relRmse: sq(rel2),
        ...(imMse ? { imatrixMse: [imMse.lo, imMse.hi] as Ci95 } : {}),
        outputRelErr: sq(out2),
        sensitivity: (calibKl ? [calibKl.lo, calibKl.hi] : [sens(out2.lo), sens(out2.hi)]) as Ci95,
        medianAbsErr: [medCi!.lo, medCi!.hi] as Ci95,
        p95AbsErr: [p95Ci!.lo, p95Ci!.hi] as Ci95,
      },
    } : {}),
  };
}

/** One skipped record per type (for tensors no path can measure with these options). */
export function skippedRecords(ctx: TensorContext, types: readonly string[], why: string): SweepRecord[] {
  const key = ctx.tiedEmbeddings && ctx.kind === "token_embd" ? "output" : gainKey(ctx.kind, ctx.qkNorm);
  return types.map((t) => skipped({
    tensor: ctx.name, kind: ctx.kind, gainKey: key, layer: ctx.layer, nLayers: ctx.nLayers, rows: ctx.totalRows, cols: ctx.W.cols,
    requestedType: t.toUpperCase(), sampleFraction: 1,
  }, t.toUpperCase(), why));
}

function skipped(base: Omit<SweepRecord, "type" | "fallback" | "skipped" | "bpw" | "bytes" | "rmse" | "relRmse" | "maxAbsErr" | "medianAbsErr" | "p95AbsErr" | "imatrixMse" | "outputRelErr" | "outputErrorSource" | "sensitivity" | "usedImatrix">, type: string, why: string): SweepRecord {
  return {
    ...base, type, fallback: false, skipped: why, bpw: NaN, bytes: NaN, rmse: NaN, relRmse: NaN, maxAbsErr: NaN,
    medianAbsErr: NaN, p95AbsErr: NaN, imatrixMse: null, outputRelErr: NaN, outputErrorSource: "none",
    sensitivity: NaN, usedImatrix: false,
  };
}

/** The per-tensor context without its weights (W is an empty placeholder of the right width). */
export function tensorMeta(src: TensorSource, name: string, nLayers: number, opts: SweepOptions): TensorContext {
  const info = src.tensor(name);
  const cols = info.cols, totalRows = info.rows;
  let im: Float32Array | null = null;
  const experts = info.shape.length >= 3 ? info.shape[2]! : 1;
  const entry = opts.imatrix?.entries.get(name);
  let tokens: number[] | undefined;
  if (entry) {
    if (entry.values.length !== cols * experts) {
      throw new QuantscopeError(`${opts.imatrix!.path}: imatrix entry ${name} has ${entry.values.length} values, the tensor has ${cols} columns${experts > 1 ? ` x ${experts} experts` : ""}`);
    }
    im = entry.values;
    if (experts > 1) tokens = Array.from({ length: experts }, (_, e) => expertTokens(entry, e));
  }
  const fraction = opts.flatten ? 1 : opts.sample ?? 1;
  if (!(fraction > 0 && fraction <= 1)) throw new QuantscopeError(`--sample must be in (0, 1], got ${fraction}`);
  return {
    experts, ...(tokens ? { expertTokens: tokens } : {}),
    name, kind: tensorCategory(name), layer: layerOf(name), nLayers, W: { rows: 0, cols, data: new Float32Array(0) }, totalRows, imatrix: im,
    activations: null, rows: new Int32Array(0), flatten: opts.flatten ?? false,
    quantizeWithImatrix: opts.quantizeWithImatrix ?? true,
    qkNorm: hasQkNorm(src),
    tiedEmbeddings: hasTiedEmbeddings(src),
    calib: opts.calib ? tensorCalib(opts.calib, name, totalRows, cols) : null,
  };
}

/** The rows a sweep measures (all when exact; a seeded sample otherwise), sorted. */
export function measuredRows(totalRows: number, opts: SweepOptions, index: number): Int32Array | null {
  const fraction = opts.flatten ? 1 : opts.sample ?? 1;
  if (fraction >= 1) return null;
  return sampleRows(totalRows, fraction, ((opts.seed ?? 1) * 2654435761 + index) >>> 0);
}

/** Reads the given rows (sorted) into `into`, in runs of consecutive indices. */
export function readPickedRows(src: TensorSource, name: string, pick: Int32Array, cols: number, into: Float32Array): void {
  for (let i = 0; i < pick.length;) {
    let j = i + 1;
    while (j < pick.length && pick[j] === pick[j - 1]! + 1) j++;
    const dst = into.subarray(i * cols, j * cols);
    const m = src.readRows(name, pick[i]!, j - i, dst);
    if (m.data.buffer !== dst.buffer || m.data.byteOffset !== dst.byteOffset) dst.set(m.data.subarray(0, dst.length));
    i = j;
  }
}

/** Builds the per-tensor context (reads the tensor, finds its imatrix and activations). */
export function tensorContext(src: TensorSource, name: string, nLayers: number, opts: SweepOptions, index = 0): TensorContext {
  const meta = tensorMeta(src, name, nLayers, opts);
  const cols = meta.W.cols;
  const pick = measuredRows(meta.totalRows, opts, index);
  let W: Matrix;
  if (!pick) W = src.read(name);
  else {
    const data = new Float32Array(pick.length * cols);
    readPickedRows(src, name, pick, cols, data);
    W = { rows: pick.length, cols, data };
  }
  return {
    ...meta, W,
    activations: opts.activations?.forTensor(name, cols) ?? null,
    rows: Int32Array.from({ length: W.rows }, (_, i) => i),
    ...(pick ? { tensorRows: pick } : {}), // the tensor row of each sampled row (calibration statistics are per row)
  };
}

/** Whether the output head reuses token_embd (no separate output.weight), so token_embd's error reaches the logits. */
export function hasTiedEmbeddings(src: TensorSource): boolean {
  const f = src.metadata.get(FACT_KEYS.tied); // a folder's model.json
  if (typeof f === "boolean") return f;
  return !src.tensors().some((t) => t.name === "output.weight");
}

/** Whether the model normalises q/k per head (Qwen3-style attn_k_norm tensors, or a folder's model.json says so). */
export function hasQkNorm(src: TensorSource): boolean {
  const f = src.metadata.get(FACT_KEYS.qkNorm);
  if (typeof f === "boolean") return f;
  return src.tensors().some((t) => t.name.endsWith(".attn_k_norm.weight"));
}

/** Number of transformer blocks, from metadata or tensor names. */
export function layerCount(src: TensorSource): number {
  const arch = String(src.metadata.get("general.architecture") ?? "");
  const v = src.metadata.get(`${arch}.block_count`);
  if (typeof v === "number" || typeof v === "bigint") return Number(v);
  return src.tensors().reduce((m, t) => Math.max(m, (layerOf(t.name) ?? -1) + 1), 0);
}

/** Sweeps a model (single thread; see sweep/parallel.ts for the two-core driver, sweep/fast.ts for the per-tensor work). */
export function sweepModel(src: TensorSource, opts: SweepOptions = {}): SweepResult {
  const t0 = performance.now();
  const types = (opts.types ?? DEFAULT_SWEEP_TYPES).map((t) => typeInfo(t).name);
  const { all, mine, passengers } = sweepWork(src, opts);
  const nLayers = layerCount(src);
  const records: SweepRecord[] = [];
  const total = mine.length * types.length;
  let done = 0;
  for (const { name, index } of mine) {
    opts.onProgress?.(done, total, name);
    records.push(...measureTensor(src, name, nLayers, opts, index, types));
    done += types.length;
  }
  opts.onProgress?.(total, total, "done");
  return sweepResult(src, opts, nLayers, types, records, passengers, t0, { all, mine: mine.map((t) => t.name) });
}

/** The SweepResult around measured records (shared by the single- and multi-threaded sweeps). */
export function sweepResult(
  src: TensorSource, opts: SweepOptions, nLayers: number, types: string[], records: SweepRecord[], passengers: SweepPassenger[], t0: number,
  work?: { all: string[]; mine: string[] },
): SweepResult {
  records = withModelScale(src, nLayers, opts.imatrix, records);
  // loose tensors without model facts: gain-table predictions that depend on them are marked uncertain
  const facts = modelFacts(src);
  records = markUncertain(records, facts);
  const factLine = factsNote(facts, records);
  return {
    model: src.path,
    architecture: String(src.metadata.get("general.architecture") ?? "unknown"),
    nLayers, types, imatrix: opts.imatrix?.path ?? null, activations: opts.activations?.dir ?? null,
    sampleFraction: opts.sample ?? 1, seed: opts.seed ?? 1, records, passengers,
    notes: [...sweepNotes(records, opts), ...(factLine ? [factLine] : [])],
    seconds: (performance.now() - t0) / 1000,
    ...(work ? {
      shard: { index: opts.shard?.index ?? 1, count: opts.shard?.count ?? 1, tensors: work.mine, all: work.all },
      provenance: provenance(src, opts, types, { measureKl: !!opts.kl }),
    } : {}),
  };
}

export function sweepNotes(records: readonly SweepRecord[], opts: { imatrix?: unknown; activations?: unknown; sample?: number; seed?: number }): string[] {
  const notes: string[] = [];
  const fb = records.filter((r) => r.fallback);
  if (fb.length) notes.push(`${fb.length} (tensor, type) pairs use llama-quantize's fallback type because the row length does not fit the block (marked "fallback")`);
  const ex = new Set(records.filter((r) => r.experts).map((r) => r.tensor));
  if (ex.size) {
    const borrowed = new Set(records.filter((r) => r.experts && r.sensitivityBasis).map((r) => r.tensor));
    notes.push(`${ex.size} expert tensors (3-D ffn_*_exps) were quantized expert by expert with each expert's imatrix vector, as llama-quantize does; per-expert metrics are in the JSON.`
      + (borrowed.size ? ` The predKL of ${borrowed.size === ex.size ? "them" : `${borrowed.size} of them`} borrows the dense FFN gain (no MoE model was in the fit): trust it within a factor ~${EXPERT_UNCERTAINTY} only (sensitivityBasis)` : " Their predKL is the sum over experts of each expert's calibration prediction"));
    if (records.some((r) => r.experts && r.sensitivitySource === "calib")) {
      notes.push("MoE calibration predictions hold the routing fixed: a tensor whose error reaches a later router also flips some tokens' expert choice, which they miss (moe-tiny: predicted/measured 0.96-1.27 for the tensors after the last router, but a median 0.68 at Q2_K down to 0.075 at Q6_K for those before one; docs/sensitivity.md)");
    }
  }
  const sk = records.filter((r) => r.skipped);
  for (const r of sk) notes.push(`skipped ${r.tensor} ${r.requestedType}: ${r.skipped}`);
  if (!opts.activations && opts.imatrix) notes.push("outputRelErr is the imatrix estimate (diagonal approximation: cross-correlations between input columns ignored)");
  if (!opts.activations && !opts.imatrix) notes.push("no imatrix or activations: outputRelErr falls back to the weight-space relative RMSE");
  if (opts.activations) {
    const est = records.filter((r) => r.outputErrorSource !== "activations" && !r.skipped).length;
    if (est) notes.push(`${est} records had no activation file and use the ${opts.imatrix ? "imatrix estimate" : "weight-space relative RMSE"}`);
  }
  const pred = predSourceNote(records);
  if (pred) notes.push(pred);
  if ((opts.sample ?? 1) < 1) notes.push(`sampled ${(opts.sample! * 100).toFixed(1)} % of rows (seed ${opts.seed ?? 1}); maxAbsErr is over sampled rows only; CIs are 95 %`);
  return notes;
}
