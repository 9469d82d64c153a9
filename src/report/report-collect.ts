// Gathers the report's evidence for each weight tensor, one tensor at a time
// (bounded memory): weight summary, activation power per column, per-column
// error at a reference type, the offset question, and the error-vs-bpw curve.
// Weights come from any TensorSource; activations from the study's folder
// layout (act_blk<N>_<site>.f32bin) or, failing that, from an imatrix.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readF32Bin } from "../io/f32bin.js";
import { QuantscopeError } from "../io/errors.js";
import type { Imatrix, TensorSource } from "../io/source.js";
import { bitsPerWeight, ggmlTypeByName } from "../ggml/types.js";
import type { ActivationEvidence, BlockErrorEvidence, ColumnErrorEvidence, OffsetEvidence, ReportData, TensorEvidence, TypePoint } from "./report-model.js";
import { blockErrors, columnErrors, columnPower, summarizeWeights } from "./report-stats.js";
import { PROXY_2BIT, canQuantize, proxyRoundTrip, rmse, roundTrip } from "./report-quant.js";

export const DEFAULT_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"];
/** The type whose per-column error the charts and the diagnosis use. */
export const REFERENCE_TYPE = "Q2_K";

/** Which activation site feeds each weight class (the study's folder layout). */
const ACTIVATION_SITE: Record<string, string> = {
  attn_q: "attn_input", attn_k: "attn_input", attn_v: "attn_input",
  attn_output: "attn_output_input",
  ffn_gate: "ffn_input", ffn_up: "ffn_input",
  ffn_down: "ffn_down_input",
};

export interface CollectOptions {
  /** Folder with act_blk<N>_<site>.f32bin files. */
  readonly activationsDir?: string;
  readonly imatrix?: Imatrix;
  /** Only tensors whose name matches. */
  readonly tensors?: RegExp;
  readonly types?: readonly string[];
  readonly onProgress?: (done: number, total: number, tensor: string) => void;
}

/** "blk.3.ffn_down.weight" -> { kind: "ffn_down", layer: 3 }. */
export function tensorKind(name: string): { kind: string; layer?: number } {
  const m = /^blk\.(\d+)\.(.+?)(?:\.weight)?$/.exec(name);
  if (m) return { kind: m[2]!, layer: Number(m[1]) };
  return { kind: name.replace(/\.weight$/, "") };
}

/** Weight matrices worth reporting: 2-D float tensors with a ".weight" name (no norms, no 1-D). */
export function reportableTensors(src: TensorSource, filter?: RegExp): { name: string; rows: number; cols: number }[] {
  return src.tensors()
    .filter((t) => t.shape.length >= 2 && t.rows > 1 && /\.weight$/.test(t.name) && !/norm/.test(t.name))
    .filter((t) => !filter || filter.test(t.name))
    .map((t) => ({ name: t.name, rows: t.rows, cols: t.cols }));
}

/** Activation files in the study's layout, by "<layer>:<site>". */
export function findActivationFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new QuantscopeError(`${dir}: activations folder not found (expected act_blk<N>_<site>.f32bin files)`);
  }
  for (const f of readdirSync(dir)) {
    const m = /^act_blk(\d+)_(\w+)\.f32bin$/.exec(f);
    if (m) out.set(`${Number(m[1])}:${m[2]}`, join(dir, f));
  }
  return out;
}

export function collectReportData(src: TensorSource, model: string, opts: CollectOptions = {}): ReportData {
  const t0 = performance.now();
  const notes: string[] = [];
  const types = (opts.types ?? DEFAULT_TYPES).map((t) => ggmlTypeByName(t)?.name ?? t);
  const actFiles = opts.activationsDir ? findActivationFiles(opts.activationsDir) : new Map<string, string>();
  const list = reportableTensors(src, opts.tensors);
  if (list.length === 0) {
    throw new QuantscopeError(`${model}: no weight matrices${opts.tensors ? ` match /${opts.tensors.source}/` : ""}`);
  }
  const missingCodecs = types.filter((t) => !canQuantize(t, 256 * 1024));
  if (missingCodecs.length) notes.push(`no bit-exact codec yet for ${missingCodecs.join(", ")}: those types are left out of the curves`);
  const actCache = new Map<string, ActivationEvidence>();
  const tensors: TensorEvidence[] = [];
  list.forEach((t, i) => {
    opts.onProgress?.(i, list.length, t.name);
    const { kind, layer } = tensorKind(t.name);
    const w = src.read(t.name);
    const activation = activationFor(t.name, kind, layer, t.cols, actFiles, actCache, opts.imatrix, notes);
    tensors.push(evidenceFor(t.name, kind, layer, w.rows, w.cols, w.data, activation, types, notes));
  });
  opts.onProgress?.(list.length, list.length, "");
  return {
    model, tensors, plans: [], notes,
    imatrix: opts.imatrix?.path,
    seconds: (performance.now() - t0) / 1000,
  };
}

function activationFor(
  name: string, kind: string, layer: number | undefined, cols: number,
  files: Map<string, string>, cache: Map<string, ActivationEvidence>, imatrix: Imatrix | undefined, notes: string[],
): ActivationEvidence | undefined {
  const site = ACTIVATION_SITE[kind];
  const file = site !== undefined && layer !== undefined ? files.get(`${layer}:${site}`) : undefined;
  if (file) {
    let a = cache.get(file);
    if (!a) {
      const m = readF32Bin(file);
      a = { source: "activations", label: file.replace(/^.*[\\/]/, ""), tokens: m.rows, colPower: columnPower(m.data, m.rows, m.cols) };
      cache.set(file, a);
    }
    if (a.colPower.length === cols) return a;
    notes.push(`${name}: ${a.label} has ${a.colPower.length} columns, the weight has ${cols}; activations ignored`);
  }
  const entry = imatrix?.entries.get(name);
  if (entry && entry.values.length === cols) {
    return { source: "imatrix", label: imatrix!.path.replace(/^.*[\\/]/, ""), tokens: entry.count, colPower: Float64Array.from(entry.values) };
  }
  return undefined;
}

function evidenceFor(
  name: string, kind: string, layer: number | undefined, rows: number, cols: number, w: Float32Array,
  activation: ActivationEvidence | undefined, types: readonly string[], notes: string[],
): TensorEvidence {
  const weight = summarizeWeights(w);
  // The importance the quantizer gets: the imatrix / activation power, as llama-quantize would use it.
  const importance = activation ? Float32Array.from(activation.colPower) : undefined;

  let columnError: ColumnErrorEvidence | undefined;
  let blockError: BlockErrorEvidence | undefined;
  const refType = canQuantize(REFERENCE_TYPE, cols) ? REFERENCE_TYPE : cols % 16 === 0 ? PROXY_2BIT : undefined;
  if (refType) {
    const wq = refType === PROXY_2BIT ? proxyRoundTrip(w, cols, 16, true) : roundTrip(refType, w, rows, cols);
    columnError = { type: refType, ...columnErrors(w, wq, rows, cols) };
    // Heat-map grid: at most ~32 row bands; 256-column super-blocks, or 32-column sub-blocks for short rows.
    const colBlock = cols >= 8 * 256 ? 256 : 32;
    const rowBand = Math.max(1, Math.ceil(rows / 32));
    blockError = { type: refType, colBlock, rowBand, ...blockErrors(w, wq, rows, cols, rowBand, colBlock) };
  } else {
    notes.push(`${name}: row length ${cols} is not a multiple of 16; no per-column error`);
  }

  let offset: OffsetEvidence | undefined;
  if (cols % 16 === 0) {
    offset = {
      groupSize: 16, source: "report 2-bit proxy",
      rmseScaleOnly: rmse(w, proxyRoundTrip(w, cols, 16, false)),
      rmseWithOffset: rmse(w, proxyRoundTrip(w, cols, 16, true)),
    };
  }

  const curve: TypePoint[] = [];
  const rmsW = Math.sqrt(weight.std * weight.std + weight.mean * weight.mean);
  for (const type of types) {
    if (!canQuantize(type, cols)) continue;
    const info = ggmlTypeByName(type)!;
    const plain = roundTrip(type, w, rows, cols);
    const ce = columnErrors(w, plain, rows, cols);
    const point: { -readonly [K in keyof TypePoint]: TypePoint[K] } = {
      type: info.name, bpw: bitsPerWeight(info), relRmse: rmsW > 0 ? rmse(w, plain) / rmsW : 0,
    };
    if (activation) {
      point.relOutputError = diagonalOutputError(activation.colPower, ce.colMse, ce.colMeanSquare);
      try {
        const withIm = columnErrors(w, roundTrip(type, w, rows, cols, importance), rows, cols);
        point.relOutputErrorImatrix = diagonalOutputError(activation.colPower, withIm.colMse, withIm.colMeanSquare);
      } catch {
        // a codec that refuses an imatrix simply has no imatrix point
      }
    }
    curve.push(point);
  }
  curve.sort((a, b) => a.bpw - b.bpw);
  return { name, kind, layer, rows, cols, weight, activation, columnError, blockError, offset, curve };
}

/**
 * Relative output error estimated from column statistics (inputs treated as
 * uncorrelated across columns): sqrt(Σ_j p_j·mse_j / Σ_j p_j·ms_j), p_j = E[x_j²].
 * The same approximation an imatrix makes.
 */
export function diagonalOutputError(power: ArrayLike<number>, colMse: ArrayLike<number>, colMeanSquare: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let j = 0; j < power.length; j++) {
    num += power[j]! * colMse[j]!;
    den += power[j]! * colMeanSquare[j]!;
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}
