// Gathers the report's evidence for each weight tensor, one tensor at a time
// (bounded memory): weight summary, activation power per column, per-column
// and per-block error at the reference type, the study's offset question
// (section 3), and the sweep's records for every candidate type. Then the
// standard mixes are priced with those records.
import { QuantscopeError } from "../../io/errors.js";
import type { CalibData } from "../../model/calibrate/calib-file.js";
import { predSourceNote, tensorCalib } from "../../model/calibrate/predict.js";
import type { Matrix } from "../../io/f32bin.js";
import type { Imatrix, TensorSource } from "../../io/source.js";
import { ggmlTypeByName } from "../../ggml/types.js";
import { typeInfo } from "../../quant/index.js";
import { fallbackType, HEADLINE_MIXES, layerOf, mixModelFromSource, standardMix, tensorBytes, tensorCategory } from "../plan/mixes.js";
import { DEFAULT_SWEEP_TYPES, measure, rowSums, roundTrip, sweepableTensors, type TensorContext } from "../sweep/sweep.js";
import { factsNote, factUncertainty, modelFacts, type ModelFacts } from "../sensitivity/model-facts.js";
import type { KlHarness } from "../../model/forward/kl.js";
import { damageOf } from "../sensitivity/damage.js";
import type { ActivationDir } from "../sweep/activations.js";
import type { SweepRecord } from "../sweep/types.js";
import { groupStats } from "../study/section3-groups.js";
import type { ActivationEvidence, BlockErrorEvidence, ColumnErrorEvidence, OffsetEvidence, PlanSummary, ReportData, TensorEvidence, TypePoint } from "./model.js";
import { plansAtMixSizes } from "./plans.js";
import { blockErrors, columnErrors, columnPower, summarizeWeights } from "./stats.js";
import { collectExpertEvidence } from "./experts-evidence.js";

/** The type whose per-column error the charts and the diagnosis use (the lowest K-quant, where choices matter most). */
export const REFERENCE_TYPE = "Q2_K";
/** Types also measured with the importance withheld, to show what an imatrix changes (the lowest ones). */
const WITHOUT_IMATRIX_TYPES = 1;
import { DEFAULT_OUTPUT_TOKENS } from "./defaults.js";
export { DEFAULT_OUTPUT_TOKENS };

export interface CollectOptions {
  readonly activations?: ActivationDir;
  readonly imatrix?: Imatrix;
  /** Calibration statistics (quantscope calibrate): predicted KL from them (docs/sensitivity.md). */
  readonly calib?: CalibData;
  /** Only tensors whose name matches. */
  readonly tensors?: RegExp;
  readonly types?: readonly string[];
  /** Activation rows (tokens) behind the measured output error; fewer = faster. */
  readonly outputTokens?: number;
  /** The model's facts (layers, QK-norm) when the source cannot show them (`report --model`); default: what the source shows. */
  readonly facts?: ModelFacts;
  /** Measures each record's single-tensor KL with the reference forward pass (`report --measure-kl`). */
  readonly kl?: KlHarness;
  readonly onProgress?: (done: number, total: number, tensor: string) => void;
}

export function collectReportData(src: TensorSource, model: string, opts: CollectOptions = {}): ReportData {
  const t0 = performance.now();
  const notes: string[] = [];
  // 2-D tensors here; the 3-D expert tensors (which the sweep now also measures) are covered below
  const swept = sweepableTensors(src, opts.tensors).swept.filter((n) => src.tensor(n).shape.length === 2);
  if (swept.length === 0) {
    throw new QuantscopeError(`${model}: no 2-D weight tensors${opts.tensors ? ` match /${opts.tensors.source}/` : ""}`);
  }
  // Candidate types, plus whatever the standard mixes assign to these tensors (so every mix can be priced).
  const mixModel = mixModelFromSource(src);
  const mixes = HEADLINE_MIXES.map((m) => ({ label: m as string, entries: standardMix(m, mixModel).filter((e) => swept.includes(e.tensor)) }));
  const requested = (opts.types ?? DEFAULT_SWEEP_TYPES).map((t) => typeInfo(t).name);
  const mixTypes = mixes.flatMap((m) => m.entries.map((e) => e.type)).filter((t) => t !== "F16" && t !== "F32");
  const types = [...new Set([...requested, ...mixTypes])].sort((a, b) => bpwOf(a) - bpwOf(b));
  const lowTypes = new Set(requested.slice().sort((a, b) => bpwOf(a) - bpwOf(b)).slice(0, WITHOUT_IMATRIX_TYPES));

  const facts = opts.facts ?? modelFacts(src);
  const { nLayers, qkNorm, tiedEmbeddings } = facts;
  const records: SweepRecord[] = [];
  const tensors: TensorEvidence[] = [];
  let synthetic = false;
  swept.forEach((name, i) => {
    opts.onProgress?.(i, swept.length, name);
    const W = src.read(name);
    const X = opts.activations?.forTensor(name, W.cols) ?? null;
    const entry = opts.imatrix?.entries.get(name);
    if (entry && entry.values.length !== W.cols) {
      throw new QuantscopeError(`${opts.imatrix!.path}: imatrix entry ${name} has ${entry.values.length} values, the tensor has ${W.cols} columns`);
    }
    const activation = activationEvidence(X, entry ? { values: entry.values, count: entry.count, label: baseName(opts.imatrix!.path) } : undefined, opts.activations?.fileFor(name));
    // The importance llama-quantize would get: the imatrix, or (without one) E[x²] from the activations — what llama-imatrix would compute from them.
    const importance = entry?.values ?? (X ? Float32Array.from(activation!.colPower) : null);
    if (!entry && X) synthetic = true;
    // ‖X(W−Ŵ)ᵀ‖ costs tokens × rows × cols per type: measure it on outputTokens rows spread evenly over the file.
    const Xm = X ? strideRows(X, opts.outputTokens ?? DEFAULT_OUTPUT_TOKENS) : null;
    const ctx: TensorContext = {
      name, kind: tensorCategory(name), layer: layerOf(name), nLayers, W, imatrix: importance, activations: Xm,
      totalRows: W.rows, rows: Int32Array.from({ length: W.rows }, (_, r) => r), flatten: false, quantizeWithImatrix: true, qkNorm, tiedEmbeddings,
      calib: opts.calib ? tensorCalib(opts.calib, name, W.rows, W.cols) : null,
    };
    const sums = rowSums(ctx);
    // predictions that hang on model facts the source could not show are marked uncertain (sensitivity/model-facts.ts)
    const mine = types.map((t) => measure(ctx, t, sums, opts.kl)).map((r) => {
      const b = r.sensitivityBasis ? undefined : factUncertainty(r, facts);
      return b ? { ...r, sensitivityBasis: b } : r;
    });
    records.push(...mine);
    const without = importance
      ? new Map(types.filter((t) => lowTypes.has(t)).map((t) => [t, measure({ ...ctx, quantizeWithImatrix: false }, t, sums)]))
      : new Map<string, SweepRecord>();
    const ev = evidenceFor(name, W, activation, importance, mine, without, requested);
    const bad = W.rows * W.cols - ev.weight.count;
    if (bad > 0) notes.push(`${name}: ${bad} NaN/Inf values, excluded from the statistics (types that cannot quantize them are skipped)`);
    tensors.push(ev);
  });
  opts.onProgress?.(swept.length, swept.length, "");
  const predNote = opts.calib ? predSourceNote(records) : null;
  if (predNote) notes.push(predNote);
  const factLine = factsNote(facts, records);
  if (factLine) notes.push(factLine);

  if (opts.kl) notes.push(`measured KL: each record's single-tensor KL measured with the reference forward pass (--measure-kl); the ranking, plans and mixes use it where it exists`);
  if (synthetic) notes.push("no imatrix given: the quantizer's importance is E[x²] from the activations (what llama-imatrix would compute from them)");
  if (!opts.activations && !opts.imatrix) notes.push("no activations or imatrix: output errors are weight-space errors, and activation charts are left out");
  const skipped = records.filter((r) => r.skipped);
  for (const r of skipped.slice(0, 5)) notes.push(`skipped ${r.tensor} ${r.requestedType}: ${r.skipped}`);

  // MoE: the 3-D expert tensors, expert by expert (the sweep and the plans above cover the 2-D tensors).
  const experts = collectExpertEvidence(src, { imatrix: opts.imatrix, tensors: opts.tensors, type: REFERENCE_TYPE });
  if (experts.length && !opts.imatrix) notes.push(`${experts.length} expert tensors: without --imatrix the report cannot tell which experts saw few tokens or carry outlier activations`);

  const standard = mixes.map((m) => priceMix(m.label, m.entries, records, src));
  const hasImportance = !!opts.imatrix || !!opts.activations;
  const plans = [...plansAtMixSizes(model, records, standard, hasImportance, notes), ...standard];
  const factsLine = `${facts.architecture}, ${facts.nLayers} layers, ${facts.qkNorm ? "" : "no "}QK-norm (from ${facts.from}${facts.missing.length ? `; ${facts.missing.join(", ")} unknown` : ""})`;
  return {
    model, tensors, records, notes, plans, modelFacts: factsLine,
    imatrix: opts.imatrix?.path,
    ...(experts.length ? { experts } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** n rows of m spread evenly (all of them when m has no more than n); not just the first ones, which may be one sequence's start. */
export function strideRows(m: Matrix, n: number): Matrix {
  if (m.rows <= n) return m;
  const data = new Float32Array(n * m.cols);
  for (let i = 0; i < n; i++) {
    const r = Math.floor((i * m.rows) / n);
    data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  }
  return { rows: n, cols: m.cols, data };
}

function bpwOf(type: string): number {
  const t = ggmlTypeByName(type);
  return t ? (t.typeSize * 8) / t.blockSize : 99;
}

function baseName(p: string): string {
  return p.replace(/^.*[\\/]/, "");
}

function activationEvidence(X: Matrix | null, im: { values: Float32Array; count: number; label: string } | undefined, file: string | null | undefined): ActivationEvidence | undefined {
  if (X) return { source: "activations", label: baseName(file ?? "activations"), tokens: X.rows, colPower: columnPower(X.data, X.rows, X.cols) };
  if (im) return { source: "imatrix", label: im.label, tokens: im.count, colPower: Float64Array.from(im.values) };
  return undefined;
}

function evidenceFor(
  name: string, W: Matrix, activation: ActivationEvidence | undefined, importance: Float32Array | null,
  records: SweepRecord[], without: Map<string, SweepRecord>, requested: readonly string[],
): TensorEvidence {
  const { rows, cols, data } = W;
  const { kind, layer } = { kind: tensorCategory(name), layer: layerOf(name) ?? undefined };
  const weight = summarizeWeights(data);

  // Per-column and per-block error at the reference type, quantized as llama-quantize would (importance included).
  let columnError: ColumnErrorEvidence | undefined;
  let blockError: BlockErrorEvidence | undefined;
  try {
    const ref = fallbackType(REFERENCE_TYPE, cols).type;
    const wq = roundTrip(ref, data, rows, cols, importance ?? undefined);
    columnError = { type: ref, ...columnErrors(data, wq, rows, cols) };
    // Heat-map grid: at most ~32 row bands; 256-column super-blocks, or 32-column sub-blocks for short rows.
    const colBlock = cols >= 8 * 256 ? 256 : 32;
    const rowBand = Math.max(1, Math.ceil(rows / 32));
    blockError = { type: ref, colBlock, rowBand, ...blockErrors(data, wq, rows, cols, rowBand, colBlock) };
  } catch (e) {
    if (!(e instanceof QuantscopeError)) throw e;
  }

  // The study's section 3 (default mode) on every row: 2-bit error with and without a per-group min.
  let offset: OffsetEvidence | undefined;
  if (cols >= 16) {
    const g = groupStats(kind, W, { rowLimit: null, seed: false, quantRmse: null, quantNote: null });
    if (g.rmseNoOffset !== null && g.rmseWithOffset !== null) {
      offset = {
        groupSize: 16, rmseScaleOnly: g.rmseNoOffset, rmseWithOffset: g.rmseWithOffset,
        groupsOffsetAbove02: g.offsetImportance.above.find((a) => a.threshold === 0.2)?.fraction ?? null,
      };
    }
  }

  // Curve: the requested types only (mix-only types are measured for pricing, not drawn).
  const curve: TypePoint[] = records
    .filter((r) => !r.skipped && requested.includes(r.requestedType))
    .map((r) => {
      const w = without.get(r.requestedType);
      return {
        type: r.type, requestedType: r.requestedType, bpw: r.bpw, relRmse: r.relRmse,
        relOutputError: r.outputRelErr, outputErrorSource: r.outputErrorSource, usedImatrix: r.usedImatrix,
        sensitivity: r.sensitivity,
        ...(r.sensitivitySource ? { sensitivitySource: r.sensitivitySource } : {}),
        ...(r.sensitivityBasis ? { sensitivityRange: r.sensitivityBasis.range } : {}),
        ...(r.measuredKl !== undefined ? { measuredKl: r.measuredKl } : {}),
        ...(w && !w.skipped && r.usedImatrix ? { relOutputErrorWithoutImatrix: w.outputRelErr } : {}),
      };
    })
    .sort((a, b) => a.bpw - b.bpw);
  return { name, kind, layer, rows, cols, weight, activation, columnError, blockError, offset, curve };
}

/** A standard mix priced with the sweep's records: bits per weight and summed predicted KL over the reported tensors. */
function priceMix(label: string, entries: { tensor: string; type: string }[], records: SweepRecord[], src: TensorSource): PlanSummary {
  let bytes = 0, elements = 0, damage = 0, priced = true, uncertain = 0;
  const sources = new Set<string>();
  for (const e of entries) {
    const info = src.tensor(e.tensor);
    bytes += tensorBytes(e.type, info.shape);
    elements += info.shape.reduce((a, b) => a * b, 1);
    const r = records.find((x) => x.tensor === e.tensor && x.type === e.type && !x.skipped);
    if (r) {
      const d = damageOf(r);
      damage += d.value;
      sources.add(d.source);
      if (d.uncertain) uncertain++;
    } else priced = false;
  }
  return {
    label, kind: "standard", bpw: elements ? (bytes * 8) / elements : 0, bytes,
    ...(priced ? { predictedDamage: damage, sources: [...sources], uncertain } : {}),
    entries: entries.map((e) => ({ tensor: e.tensor, type: e.type })),
  };
}
