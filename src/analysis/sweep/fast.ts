// The sweep's fast path: one tensor, every candidate type, with the weights,
// the quantized blocks, the round trip and |E| all in one private WASM memory.
// Per chunk of rows (about 256 KiB of f32, so the chunk is still in cache for
// the next step): the quantize kernel, the dequantize kernel, then one error
// pass (assembly/sweep.ts) that does in f64, in the same order, what the
// TypeScript loop of measure() does, plus the histogram for the order
// statistics. Records are bit-identical to measure()'s
// (test/sweep-fast.test.ts). Measured on a Qwen3-4B-shaped layer, the
// TypeScript path spent ~2.6x the quantize kernel's time around it (f16
// decode, copies through WASM memory, dequantize copies, the error loop, a
// separate histogram pass); see docs/scale.md.
//
// Not handled here (measure() is used instead): activations (X·Eᵀ), --flatten,
// --measure-kl and calibration statistics on 2-D tensors, non-finite weights
// or imatrix values, types without a WASM kernel pair, and tensors too large
// for one 4 GiB WASM memory. Expert tensors (which measure() cannot cut per
// expert) get their calibration prediction and measured KL here.
import type { TensorSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { newKernelInstance, type KernelExports } from "../../quant/wasm.js";
import { codecFor } from "../../quant/index.js";
import { ggmlTypeByName } from "../../ggml/types.js";
import { fallbackType, tensorBytes } from "../plan/mixes.js";
import { gainKey } from "../sensitivity/gain-table.js";
import { selectKth } from "./stats.js";
import {
  EXPERT_UNCERTAINTY, finishRecord, measure, measuredRows, readPickedRows, rowSums, skippedRecords, tensorContext, tensorMeta, type ErrorSums, type SweepOptions, type TensorContext,
} from "./sweep.js";
import type { ExpertMetrics, SweepRecord } from "./types.js";
import { addCalibRows, calibTotal } from "../../model/calibrate/predict.js";
import { measureKl } from "../../model/forward/kl.js";

const PAGE = 65536;
/** Rows per kernel call: about this many floats (256 KiB of f32, like the codec API's chunks). */
const CHUNK_FLOATS = 1 << 16;
/** Raw F16 bytes decoded per step. */
const RAW_FLOATS = 1 << 20;
/** Largest WASM memory this path uses (the module can address 4 GiB). */
const MAX_BYTES = 3.75 * 2 ** 30;

type QuantKernel = (src: number, dst: number, rows: number, cols: number, imatrix: number) => number;
type DequantKernel = (src: number, dst: number, n: number) => void;

/** A range of measured rows quantized with one imatrix (a whole 2-D tensor, or one expert's slice). */
export interface RowSegment {
  readonly start: number;
  readonly count: number;
  /** Imatrix values for these rows' columns, or null. */
  readonly imatrix: Float32Array | null;
}

const a16 = (n: number) => (n + 15) & ~15;

/** One kernel instance with its own memory, grown to the largest tensor seen. */
class Workspace {
  readonly k: KernelExports;
  readonly base: number;
  constructor() {
    this.k = newKernelInstance();
    this.base = a16(this.k.heapBase());
  }
  ensure(end: number): void {
    const have = this.k.memory.buffer.byteLength;
    if (end > 65536 * PAGE) throw new QuantscopeError(`sweep: ${end} bytes of kernel memory needed, more than WASM's 4 GiB (a tensor with very many identical errors?); use --sample`);
    if (end > have) this.k.memory.grow(Math.ceil((end - have) / PAGE));
  }
  fn<T>(name: string): T | undefined {
    const f = this.k[name];
    return typeof f === "function" ? (f as T) : undefined;
  }
  f32(p: number, n: number): Float32Array { return new Float32Array(this.k.memory.buffer, p, n); }
  f64(p: number, n: number): Float64Array { return new Float64Array(this.k.memory.buffer, p, n); }
  u32(p: number, n: number): Uint32Array { return new Uint32Array(this.k.memory.buffer, p, n); }
  i32(p: number, n: number): Int32Array { return new Int32Array(this.k.memory.buffer, p, n); }
  u8(p: number, n: number): Uint8Array { return new Uint8Array(this.k.memory.buffer, p, n); }
}

let WS: Workspace | undefined;

/** Seconds spent per phase (accumulated), for bench:sweep. */
export interface PhaseTimes {
  /** reading the weights into WASM memory (file read + f16 -> f32) */
  read: number;
  rowSums: number;
  quantize: number;
  dequantize: number;
  /** E, |E|, per-row sums, max, histogram */
  errors: number;
  /** median / p95 (gather + select) and the record's ratios */
  orderStats: number;
  other: number;
}

export function newPhaseTimes(): PhaseTimes {
  return { read: 0, rowSums: 0, quantize: 0, dequantize: 0, errors: 0, orderStats: 0, other: 0 };
}

/** Bytes of WASM memory the fast path needs for k measured rows of cols, with `segments` imatrices. */
export function fastPathBytes(k: number, cols: number, segments: number, slabRows = k): number {
  const chunkRows = Math.max(1, Math.floor(CHUNK_FLOATS / cols));
  // + 1/16 of the slab for the order statistics' gather buckets (two of 65,536; typically < 2 %)
  return 4 * 65536 * 4 + 64 + segments * a16(cols * 4) + 4 * a16(k * 8)
    + a16(chunkRows * cols * 5) + a16(chunkRows * cols * 4) + a16(RAW_FLOATS * 2 + cols * 2)
    + 2 * a16(slabRows * cols * 4) + Math.ceil(slabRows * cols / 4);
}

/**
 * Every record of one tensor (one per type, in order) by the WASM path, or
 * null when this tensor needs measure() (see the header).
 */
export function sweepTensorFast(
  src: TensorSource, name: string, nLayers: number, opts: SweepOptions, index: number, types: readonly string[],
  segmentsOf?: (meta: TensorContext, pick: Int32Array | null) => RowSegment[], phases?: PhaseTimes, maxBytes = MAX_BYTES,
): SweepRecord[] | null {
  let tick = phases ? performance.now() : 0;
  const lap = (what: keyof PhaseTimes) => {
    if (!phases) return;
    const t = performance.now();
    phases[what] += (t - tick) / 1000;
    tick = t;
  };
  if (opts.flatten) return null;
  if (opts.activations && opts.activations.fileFor(name) !== null) return null;
  const meta = tensorMeta(src, name, nLayers, opts);
  const expert = (meta.experts ?? 1) > 1;
  // 2-D tensors: measure() computes calibration predictions and measured KL (it keeps the whole round trip)
  if (!expert && (meta.calib || opts.kl)) return null;
  const C = meta.W.cols, N = meta.totalRows;
  const pick = measuredRows(N, opts, index);
  const k = pick ? pick.length : N;
  const segments = segmentsOf ? segmentsOf(meta, pick) : expertSegments(meta, pick);
  for (const s of segments) if (s.imatrix && s.imatrix.some((x) => !Number.isFinite(x))) return null;
  // Slabs: when W and |E| of all measured rows do not fit, rows are read, quantized and measured slab by
  // slab, and a second pass per type re-quantizes each slab to gather the order statistics' buckets.
  const slabbed = k * C > 0x3fffffff || fastPathBytes(k, C, segments.length) > maxBytes;
  const slabRows = slabbed ? Math.max(1, Math.floor((maxBytes - fastPathBytes(k, C, segments.length, 0)) / (8 * C))) : k;
  if (slabbed && slabRows * C > 0x3fffffff) return null;
  const ws = (WS ??= new Workspace());

  // layout
  let top = ws.base;
  const take = (n: number) => { const p = top; top += a16(n); return p; };
  const pHist = take(65536 * 4), pHist2 = take(65536 * 4), pSlot = take(65536 * 4), pFill = take(64);
  const pIm = segments.map((s) => (s.imatrix ? take(C * 4) : 0));
  const pW2 = take(k * 8), pVw2 = take(k * 8), pE2 = take(k * 8), pVe2 = take(k * 8);
  const chunkRows = Math.max(1, Math.floor(CHUNK_FLOATS / C));
  const pQ = take(chunkRows * C * 5), pDeq = take(chunkRows * C * 4);
  const rawRows = Math.max(1, Math.floor(RAW_FLOATS / C));
  const pRaw = take(rawRows * C * 2);
  const pW = take(slabRows * C * 4), pAbs = take(slabRows * C * 4);
  const pGather = top;
  ws.ensure(top);
  ws.i32(pSlot, 65536).fill(-1);
  segments.forEach((s, i) => { if (s.imatrix) ws.f32(pIm[i]!, C).set(s.imatrix); });

  // measured rows [r0, r0+n) -> W; false when they hold NaN/Inf (then measure() reports it per type)
  const info = src.tensor(name);
  const f16 = ws.fn<DequantKernel>("dequantize_f16");
  const firstNonFinite = ws.fn<(p: number, n: number) => number>("firstNonFinite")!;
  const load = (r0: number, n: number): boolean => {
    if (!pick && info.type === "F16" && src.readRaw && f16) {
      for (let r = 0; r < n; r += rawRows) {
        const m = Math.min(rawRows, n - r);
        const dst = ws.u8(pRaw, m * C * 2);
        const got = src.readRaw(name, r0 + r, m, dst);
        if (got.buffer !== dst.buffer || got.byteOffset !== dst.byteOffset) dst.set(got.subarray(0, m * C * 2));
        f16(pRaw, pW + r * C * 4, m * C);
      }
    } else if (!pick) {
      const dst = ws.f32(pW, n * C);
      const m = src.readRows(name, r0, n, dst);
      if (m.data.buffer !== dst.buffer || m.data.byteOffset !== dst.byteOffset) ws.f32(pW, n * C).set(m.data.subarray(0, n * C));
    } else {
      readPickedRows(src, name, pick.subarray(r0, r0 + n), C, ws.f32(pW, n * C));
    }
    lap("read");
    return firstNonFinite(pW, n * C) < 0;
  };
  if (!slabbed && !load(0, k)) return null;
  /** Calls fn(segment index, first row, rows) for every chunk of every slab (loading the slab when slabbed). */
  const eachChunk = (fn: (i: number, r: number, n: number, s0: number) => void, afterSlab?: (s0: number, s1: number) => void): boolean => {
    for (let s0 = 0; s0 < k; s0 += slabRows) {
      const s1 = Math.min(k, s0 + slabRows);
      if (slabbed && !load(s0, s1 - s0)) return false;
      segments.forEach((sg, i) => {
        const a = Math.max(sg.start, s0), b = Math.min(sg.start + sg.count, s1);
        for (let r = a; r < b; r += chunkRows) fn(i, r, Math.min(chunkRows, b - r), s0);
      });
      afterSlab?.(s0, s1);
    }
    return true;
  };

  // per-row sums of the weights: in the first type's error pass, or on their own if a type needs measure() first
  let sums: { w2: Float64Array; vw2: Float64Array; xw2: Float64Array } | undefined;
  const takeSums = () => (sums = { w2: ws.f64(pW2, k).slice(), vw2: ws.f64(pVw2, k).slice(), xw2: new Float64Array(k) });
  const ensureSums = () => {
    if (sums) return sums;
    const rowSums = ws.fn<(w: number, rows: number, cols: number, im: number, w2: number, vw2: number) => void>("sweepRowSums")!;
    eachChunk((i, r, n, s0) => rowSums(pW + (r - s0) * C * 4, n, C, pIm[i]!, pW2 + r * 8, pVw2 + r * 8));
    lap("rowSums");
    return takeSums();
  };

  const key = meta.tiedEmbeddings && meta.kind === "token_embd" ? "output" : gainKey(meta.kind, meta.qkNorm);
  const ctx = { ...meta, W: { rows: k, cols: C, data: new Float32Array(0) } };
  const errors = ws.fn<(w: number, deq: number, abs: number, rows: number, cols: number, im: number, e2: number, ve2: number, hist: number, w2: number, vw2: number) => number>("sweepErrors")!;
  const gather = ws.fn<(abs: number, n: number, slot: number, fill: number, dst: number) => void>("sweepGather")!;
  const records: SweepRecord[] = [];
  let slow: TensorContext | undefined; // measure()'s context, built only if a type needs it

  for (const requested of types) {
    const base = {
      tensor: name, kind: meta.kind, gainKey: key, layer: meta.layer, nLayers, rows: N, cols: C,
      requestedType: requested.toUpperCase(), sampleFraction: k / N,
    };
    let type: string, fallback: boolean;
    try {
      ({ type, fallback } = fallbackType(requested, C));
    } catch (e) {
      if (!(e instanceof QuantscopeError)) throw e;
      records.push(slowRecord());
      continue;
    }
    const lc = type.toLowerCase();
    const quant = ws.fn<QuantKernel>(`quantize_${lc}`), dequant = ws.fn<DequantKernel>(`dequantize_${lc}`);
    const codec = ggmlTypeByName(type) ? tryCodec(type) : undefined;
    const useIm = meta.quantizeWithImatrix && meta.imatrix !== null;
    if (!quant || !dequant || !codec || (codec.imatrix === "required" && !useIm) || type === "F32") {
      records.push(slowRecord());
      continue;
    }
    let max = 0;
    const segMax = new Float64Array(segments.length);
    // expert tensors: per measured row the calibration term, and the whole round trip for the measured KL
    const calibRows = meta.calib ? new Float64Array(k) : null;
    const deqAll = opts.kl && k === N ? new Float32Array(N * C) : null;
    /** One round trip of every chunk; the gather pass (slabbed) counts into a scratch histogram and gathers per slab. */
    const roundTrips = (withSums: boolean, gatherPass: boolean) => eachChunk((i, r, n, s0) => {
      const qIm = useIm && codec.imatrix !== "ignored" ? pIm[i]! : 0;
      const pw = pW + (r - s0) * C * 4;
      if (phases) lap("other");
      quant(pw, pQ, n, C, qIm);
      if (phases) lap("quantize");
      dequant(pQ, pDeq, n * C);
      if (phases) lap("dequantize");
      if (!gatherPass && calibRows) {
        const tensorRows = pick ? pick.subarray(r, r + n) : Int32Array.from({ length: n }, (_, i) => r + i);
        addCalibRows(meta.calib!, ws.f32(pw, n * C), ws.f32(pDeq, n * C), tensorRows, n, C, calibRows, r);
      }
      if (!gatherPass && deqAll) deqAll.set(ws.f32(pDeq, n * C), r * C);
      const m = errors(pw, pDeq, pAbs + (r - s0) * C * 4, n, C, pIm[i]!, pE2 + r * 8, pVe2 + r * 8, gatherPass ? pHist2 : pHist,
        withSums ? pW2 + r * 8 : 0, withSums ? pVw2 + r * 8 : 0);
      if (m > max) max = m;
      if (m > segMax[i]!) segMax[i] = m;
      if (phases) lap("errors");
    }, gatherPass ? (s0, s1) => gather(pAbs, (s1 - s0) * C, pSlot, pFill, pGather) : undefined);
    ws.u32(pHist, 65536).fill(0);
    const withSums = !sums;
    if (!roundTrips(withSums, false)) return null;
    if (withSums) takeSums();
    const es: ErrorSums = {
      e2: ws.f64(pE2, k).slice(), ve2: ws.f64(pVe2, k).slice(), xe2: null, max,
      ranks: (ranks) => ranksFromHistogram(ws, ranks, k * C, pHist, pSlot, pFill, pGather,
        slabbed ? () => { if (!roundTrips(false, true)) throw new Error("internal error: a slab changed between passes"); }
          : () => gather(pAbs, k * C, pSlot, pFill, pGather)),
    };
    const measuredKl = deqAll ? measureKl(opts.kl!, new Map([[name, deqAll]])) : undefined;
    const calibKl = calibRows ? calibTotal(calibRows, N) : undefined;
    const rec = finishRecord(ctx, base, type, fallback, useIm, tensorBytes(type, [C, N]), es, sums!, measuredKl, calibKl);
    records.push(expert ? withExperts(rec, meta, segments, es, sums!, segMax, calibRows) : rec);
    lap("orderStats");
  }
  return records;

  function slowRecord(): SweepRecord {
    const t = types[records.length]!;
    if ((meta.experts ?? 1) > 1) {
      // measure() knows one imatrix vector per tensor: say why this type cannot be measured here
      let why: string;
      try {
        const fb = fallbackType(t, C);
        const c = tryCodec(fb.type);
        why = !c ? `type ${fb.type} is not supported` : c.imatrix === "required" && !meta.imatrix ? `${fb.type} requires an importance matrix (imatrix)` : `no WASM kernel for ${fb.type}, which expert tensors need`;
      } catch (e) {
        if (!(e instanceof QuantscopeError)) throw e;
        why = e.message;
      }
      return skippedRecords(meta, [t], why)[0]!;
    }
    if (slabbed) return skippedRecords(meta, [t], `no WASM kernel for this type, and the tensor (${k * C} weights) is too large for the TypeScript path`)[0]!;
    slow ??= {
      ...meta, W: { rows: k, cols: C, data: ws.f32(pW, k * C).slice() },
      rows: Int32Array.from({ length: k }, (_, i) => i), activations: null,
    };
    return measure(slow, t, ensureSums());
  }
}

/**
 * The measured rows cut where llama-quantize cuts the tensor: one segment for
 * a 2-D tensor; for a 3-D expert tensor one per expert (rows [e·ne1, (e+1)·ne1)
 * of the whole tensor), each with that expert's imatrix vector.
 */
export function expertSegments(meta: TensorContext, pick: Int32Array | null): RowSegment[] {
  const E = meta.experts ?? 1;
  const C = meta.W.cols;
  const k = pick ? pick.length : meta.totalRows;
  if (E <= 1) return [{ start: 0, count: k, imatrix: meta.imatrix }];
  const per = meta.totalRows / E;
  const out: (RowSegment & { expert: number })[] = [];
  for (let i = 0; i < k;) {
    const e = Math.floor((pick ? pick[i]! : i) / per);
    let j = i + 1;
    while (j < k && Math.floor((pick ? pick[j]! : j) / per) === e) j++;
    out.push({ start: i, count: j - i, expert: e, imatrix: meta.imatrix ? meta.imatrix.subarray(e * C, (e + 1) * C) : null });
    i = j;
  }
  return out;
}

/** The record of an expert tensor with each expert's metrics and its sensitivity marked as borrowed. */
function withExperts(
  rec: SweepRecord, meta: TensorContext, segments: readonly RowSegment[], es: ErrorSums,
  sums: { w2: Float64Array; vw2: Float64Array }, segMax: Float64Array, calibRows: Float64Array | null,
): SweepRecord {
  const C = meta.W.cols;
  const E = meta.experts!;
  const per = meta.totalRows / E;
  const experts: ExpertMetrics[] = [];
  const sum = (a: Float64Array, s: RowSegment) => { let x = 0; for (let r = s.start; r < s.start + s.count; r++) x += a[r]!; return x; };
  const bySeg = new Map<number, number>();
  segments.forEach((s, i) => bySeg.set((s as RowSegment & { expert?: number }).expert ?? Math.floor(s.start / per), i));
  for (let e = 0; e < E; e++) {
    const i = bySeg.get(e);
    const tokens = meta.expertTokens?.[e] ?? null;
    if (i === undefined) {
      experts.push({ expert: e, rows: 0, tokens, rmse: NaN, relRmse: NaN, maxAbsErr: NaN, imatrixMse: null, outputRelErr: NaN });
      continue;
    }
    const s = segments[i]!;
    const e2 = sum(es.e2, s), w2 = sum(sums.w2, s);
    const im = s.imatrix !== null;
    const ve2 = im ? sum(es.ve2, s) : 0, vw2 = im ? sum(sums.vw2, s) : 0;
    experts.push({
      expert: e, rows: s.count, tokens,
      rmse: Math.sqrt(e2 / (s.count * C)), relRmse: Math.sqrt(e2 / w2), maxAbsErr: segMax[i]!,
      imatrixMse: im ? ve2 / (s.count * C) : null,
      outputRelErr: im ? Math.sqrt(ve2 / vw2) : Math.sqrt(e2 / w2),
      // this expert's share of the calibration prediction (its measured rows scaled to all of its rows)
      ...(calibRows ? { predKl: (sum(calibRows, s) * per) / s.count } : {}),
    });
  }
  // from calibration statistics: each expert's own prediction, nothing borrowed
  if (calibRows) return { ...rec, experts };
  const x = rec.sensitivity;
  return {
    ...rec, experts,
    sensitivityBasis: {
      gain: `${meta.kind} (the dense FFN gain)`, fitted: false, uncertaintyFactor: EXPERT_UNCERTAINTY,
      range: [x / EXPERT_UNCERTAINTY, x * EXPERT_UNCERTAINTY],
      note: "no MoE model was in the sensitivity fit; routing (k of E experts per token, router weights) is not modelled; outputRelErr weighs every expert by its own imatrix, not by how many tokens it gets",
    },
  };
}

function tryCodec(type: string) {
  try { return codecFor(type); } catch (e) { if (e instanceof QuantscopeError) return undefined; throw e; }
}

/**
 * Order statistics of the n values of |E| at pAbs from their 16-bit histogram:
 * the bucket of each rank, one gather of those buckets' values, a selection in each.
 */
function ranksFromHistogram(
  ws: Workspace, ranks: readonly number[], n: number, pHist: number, pSlot: number, pFill: number, pGather: number,
  gatherAll: () => void,
): number[] {
  if (n === 0) return ranks.map(() => NaN);
  const hist = ws.u32(pHist, 65536);
  const order = ranks.map((r, i) => [r, i] as const).sort((x, y) => x[0] - y[0]);
  const where = new Array<{ b: number; k: number }>(ranks.length);
  let acc = 0, b = 0;
  for (const [r, i] of order) {
    while (b < 65535 && acc + hist[b]! <= r) { acc += hist[b]!; b++; }
    where[i] = { b, k: r - acc };
  }
  const buckets = [...new Set(where.map((w) => w.b))];
  const start: number[] = [];
  let total = 0;
  for (const bk of buckets) { start.push(total); total += hist[bk]!; }
  if (buckets.length > 16) throw new Error("internal error: too many order-statistic buckets");
  ws.ensure(pGather + total * 4);
  const slot = ws.i32(pSlot, 65536), fill = ws.i32(pFill, 16);
  buckets.forEach((bk, s) => { slot[bk] = s; fill[s] = start[s]!; });
  gatherAll();
  const out = where.map(({ b: bk, k }) => {
    const s = buckets.indexOf(bk);
    return selectKth(ws.f32(pGather + start[s]! * 4, ws.u32(pHist, 65536)[bk]!), k);
  });
  const slot2 = ws.i32(pSlot, 65536);
  for (const bk of buckets) slot2[bk] = -1;
  return out;
}

/**
 * Every record of one tensor, one per type in order: the WASM path when it
 * applies, else measure() per type (the reference implementation).
 */
export function measureTensor(
  src: TensorSource, name: string, nLayers: number, opts: SweepOptions, index: number, types: readonly string[],
): SweepRecord[] {
  const fast = sweepTensorFast(src, name, nLayers, opts, index, types);
  if (fast) return fast;
  const meta = tensorMeta(src, name, nLayers, opts);
  if ((meta.experts ?? 1) > 1) {
    // measure() quantizes a tensor as one matrix with one imatrix vector; expert tensors need the WASM path
    const why = opts.flatten ? "--flatten does not apply to expert tensors"
      : opts.activations?.fileFor(name) ? "activation files for expert tensors are not supported"
      : "expert tensors are measured by the WASM path only (non-finite values, or too large for it)";
    return skippedRecords(meta, types, why);
  }
  const ctx = tensorContext(src, name, nLayers, opts, index);
  const sums = rowSums(ctx);
  return types.map((t) => measure(ctx, t, sums, opts.kl));
}
