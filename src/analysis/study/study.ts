// Runs the nine sections over a set of weight and activation files. Tensors
// are loaded one at a time and reduced to small per-column summaries, so peak
// memory is about one tensor; every section's result is assembled in the
// study's order at the end.
import { basename, join } from "node:path";
import { existsSync } from "node:fs";
import { readF32Bin, readF32BinHeader, type Matrix } from "../../io/f32bin.js";
import { QuantscopeError } from "../../io/errors.js";
import type {
  ActivationPower, DistributionStats, ErrorMeetsPower, GroupStats, RowGrouping, RowVariability,
  StudyInput, StudyResult, SuperBlockDecomposition,
} from "../study-types.js";
import type { GroupQuantizer } from "../group-quantizer.js";
import { ACTIVATIONS, ACT_FFN_INPUT, ACT_SWIGLU, SEED_FOCUS, SEED_SECTION9, WEIGHTS, directionLabel } from "./layout.js";
import { distributionStats } from "./section1-distribution.js";
import { rowVariability } from "./section2-rows.js";
import { GROUP_SIZE, groupStats } from "./section3-groups.js";
import { activationPower, columnPower, type ColumnPower } from "./section5-power.js";
import { columnShape, errorMeetsPower } from "./section6-error-power.js";
import { rowGrouping, rowGroupingFromSums } from "./section7-row-grouping.js";
import { allFinite, fastWeightScan } from "./fast-weight-scan.js";
import type { ColumnShape } from "./section6-error-power.js";
import type { RowGrouping as RowGroupingT } from "../study-types.js";
import { swigluDims, swigluEffect, tokenTable, type SwigluDims, type TokenTable } from "./section8-swiglu.js";
import { superBlockDecomposition } from "./section9-superblocks.js";
import { overallRmse, weightError } from "./weight-error.js";

export interface WeightSource {
  /** Study key ("ffn_down") or any name for an explicit file. */
  readonly key: string;
  readonly path: string;
  /** The study's description (seed-compat label). */
  readonly seedLabel: string | null;
  /** Activation key that feeds this weight, if known. */
  readonly input: string | null;
}

export interface ActivationSource {
  readonly key: string;
  readonly path: string;
}

export interface StudySources {
  readonly weights: readonly WeightSource[];
  readonly activations: readonly ActivationSource[];
}

export interface StudyOptions {
  readonly seedCompat: boolean;
  /** Group quantizer for sections 3, 6 and 9 (ignored in seed-compat, which uses the study's proxy). */
  readonly quantizer: GroupQuantizer;
  /** Called once per file as it is read (progress). */
  readonly onProgress?: (what: string) => void;
}

/** The study's folder layout: the seven weights and four activations directly in dir. */
export function folderSources(dir: string): StudySources {
  if (!existsSync(dir)) throw new QuantscopeError(`${dir}: no such directory`);
  return {
    weights: WEIGHTS.map((w) => ({ key: w.key, path: join(dir, w.file), seedLabel: w.seedLabel, input: w.input })),
    activations: ACTIVATIONS.map((a) => ({ key: a.key, path: join(dir, a.file) })),
  };
}

const SEED_ROWS = { s3: 256, s6: 256, s7: 64, s8: 3, s9: 128 } as const;

interface Loaded { readonly input: StudyInput; readonly ok: boolean }

function probe(role: "weight" | "activation", key: string, path: string): Loaded {
  if (!existsSync(path)) {
    return { ok: false, input: { role, key, file: path, status: "missing", rows: null, cols: null, note: `${key}: SKIP (${basename(path)}: no such file)` } };
  }
  const h = readF32BinHeader(path); // throws a one-line QuantscopeError for a bad file
  return { ok: true, input: { role, key, file: path, status: "loaded", rows: h.rows, cols: h.cols, note: null } };
}

function nonFiniteWarning(file: string, s: DistributionStats): string | null {
  const { nan, posInf, negInf } = s.nonFinite;
  if (nan + posInf + negInf === 0) return null;
  return `${file}: ${nan} NaN, ${posInf} +Inf, ${negInf} -Inf values; excluded from every statistic`;
}

export function runStudy(src: StudySources, opt: StudyOptions): StudyResult {
  const t0 = performance.now();
  const seed = opt.seedCompat;
  const warnings: string[] = [];
  const inputs: StudyInput[] = [];
  const q = opt.quantizer;
  const wProbe = src.weights.map((w) => probe("weight", w.key, w.path));
  const aProbe = src.activations.map((a) => probe("activation", a.key, a.path));
  inputs.push(...wProbe.map((p) => p.input), ...aProbe.map((p) => p.input));

  // Activations first: sections 4, 5 and 8's per-token tables; keep only per-column power.
  const section4: DistributionStats[] = [];
  const section5: ActivationPower[] = [];
  const power = new Map<string, ColumnPower>();
  let tokIn: TokenTable | null = null, tokSw: TokenTable | null = null, dimsSw: SwigluDims | null = null;
  const shapes = new Map<string, [number, number]>();
  src.activations.forEach((a, i) => {
    if (!aProbe[i]!.ok) return;
    opt.onProgress?.(a.path);
    const A = readF32Bin(a.path);
    shapes.set(a.key, [A.rows, A.cols]);
    const d = distributionStats(a.key, basename(a.path), a.key, A);
    section4.push(d);
    const w = nonFiniteWarning(basename(a.path), d);
    if (w) warnings.push(w);
    const p = columnPower(A, seed);
    power.set(a.key, p);
    section5.push(activationPower(a.key, p));
    const limit = seed ? SEED_ROWS.s8 : null;
    if (a.key === ACT_FFN_INPUT) tokIn = tokenTable(A, limit);
    if (a.key === ACT_SWIGLU) { tokSw = tokenTable(A, limit); dimsSw = swigluDims(A); }
  });

  // Weights: sections 1, 2, 3, 7 and the weight halves of 6 and 9, one tensor at a time.
  const section1: DistributionStats[] = [];
  const section2: RowVariability[] = [];
  const section3: GroupStats[] = [];
  const s6 = new Map<string, ErrorMeetsPower>();
  const s7 = new Map<string, RowGrouping>();
  const s9 = new Map<string, SuperBlockDecomposition>();
  const skipped6: string[] = [];
  const skipped9: string[] = [];
  const focus = new Set<string>(seed ? SEED_FOCUS : src.weights.map((w) => w.key));
  const focus9 = new Set<string>(seed ? SEED_SECTION9 : src.weights.map((w) => w.key));

  src.weights.forEach((w, i) => {
    if (!wProbe[i]!.ok) {
      if (focus.has(w.key)) skipped6.push(`${w.key}: SKIP (weight file missing: ${basename(w.path)})`);
      if (focus9.has(w.key)) skipped9.push(`${w.key}: SKIP (weight file missing: ${basename(w.path)})`);
      return;
    }
    opt.onProgress?.(w.path);
    const W: Matrix = readF32Bin(w.path);
    const file = basename(w.path);
    const desc = seed && w.seedLabel ? w.seedLabel : directionLabel(W.rows, W.cols);
    const fast = !seed && allFinite(W.data);
    const isProxy = q.info.name === "proxy";
    let d1: DistributionStats;
    let shape: ColumnShape | null = null;
    let s7r: RowGroupingT | null = null;
    let we: ReturnType<typeof weightError> | null = null;
    let s3partial: Omit<GroupStats, "quantRmse" | "quantNote"> | null = null;
    if (fast) {
      const scan = fastWeightScan(W, {
        name: w.key, file, description: desc, withRowGrouping: focus.has(w.key), withProxyError: isProxy,
        rowGrouping: (stdSum, stdRows, pos, neg, total, thr) => rowGroupingFromSums(w.key, W.cols, W.rows, stdSum, stdRows, pos, neg, total, thr),
      });
      d1 = scan.s1;
      section2.push(scan.s2);
      s7r = scan.s7;
      we = isProxy ? scan.proxyError : weightError(W, q);
      s3partial = scan.s3;
    } else {
      d1 = distributionStats(w.key, file, desc, W);
      section2.push(rowVariability(w.key, W));
      if (!seed) we = weightError(W, q);
    }
    section1.push(d1);
    const nf = nonFiniteWarning(file, d1);
    if (nf) warnings.push(nf);
    if (W.cols % 16 !== 0) warnings.push(`${file}: row length ${W.cols} is not a multiple of 16; the last ${W.cols % 16} columns do not form a 16-element group${seed ? "" : " and are left out of group statistics"}`);
    else if (W.cols % 256 !== 0) warnings.push(`${file}: row length ${W.cols} is not a multiple of 256; K-quants (Q2_K..Q6_K) cannot store it and the last ${W.cols % 256} columns are outside every super-block`);

    const qr = we ? overallRmse(we) : null;
    const qNote = seed ? null : we!.failure ?? (we!.usableCols < W.cols ? `last ${W.cols - we!.usableCols} columns outside whole ${q.info.name} blocks are not measured` : null);
    section3.push(s3partial
      ? { ...s3partial, quantRmse: qr, quantNote: qNote }
      : groupStats(w.key, W, { rowLimit: seed ? SEED_ROWS.s3 : null, seed, quantRmse: qr, quantNote: qNote }));

    if (focus.has(w.key)) {
      s7.set(w.key, s7r ?? rowGrouping(w.key, W, { rowLimit: seed ? SEED_ROWS.s7 : null, seed, tensorStd: d1.std }));
      const p = w.input ? power.get(w.input) : undefined;
      const actKey = w.input ?? "(none)";
      if (!w.input) skipped6.push(`${w.key}: SKIP (no activation is known to feed this weight)`);
      else if (!p) skipped6.push(`${w.key}: SKIP (activation ${actKey} missing)`);
      else if (p.dims !== W.cols) {
        skipped6.push(`${w.key}: dim mismatch W=${W.cols} vs A=${p.dims}, SKIP`);
        warnings.push(`${file}: ${W.cols} columns but its activation ${actKey} has ${p.dims}; sections 6 and 9 skip it`);
      } else {
        s6.set(w.key, errorMeetsPower({
          name: w.key, activation: actKey, power: p, shape: shape ?? columnShape(W),
          ...(seed ? { seedWeight: W } : { error: we! }),
        }));
      }
    }
    if (focus9.has(w.key)) {
      const p = w.input ? power.get(w.input) : undefined;
      if (!w.input) skipped9.push(`${w.key}: SKIP (no activation is known to feed this weight)`);
      else if (!p) skipped9.push(`${w.key}: SKIP (activation ${w.input} missing)`);
      else if (p.dims !== W.cols) skipped9.push(`${w.key}: dim mismatch W=${W.cols} vs A=${p.dims}, SKIP`);
      else {
        s9.set(w.key, superBlockDecomposition({
          name: w.key, activation: w.input, power: p, cols: W.cols,
          ...(seed ? { seedWeight: W } : { error: we! }),
        }));
      }
    }
  });

  const order = seed ? [...SEED_FOCUS] : src.weights.map((w) => w.key);
  const order9 = seed ? [...SEED_SECTION9] : src.weights.map((w) => w.key);
  const pick = <T,>(m: Map<string, T>, keys: string[]): T[] => keys.filter((k) => m.has(k)).map((k) => m.get(k)!);

  return {
    schemaVersion: 1,
    mode: seed ? "seed-compat" : "default",
    quantizer: seed
      ? { name: "seed-proxy", description: "the study's 2-bit proxy, reproduced exactly (unsigned in section 3, float32 sums)", blockSize: GROUP_SIZE }
      : q.info,
    sampling: seed
      ? { section3Rows: SEED_ROWS.s3, section6Rows: SEED_ROWS.s6, section7Rows: SEED_ROWS.s7, section8Tokens: SEED_ROWS.s8, section9Rows: SEED_ROWS.s9 }
      : { section3Rows: null, section6Rows: null, section7Rows: null, section8Tokens: 3, section9Rows: null },
    inputs,
    warnings,
    section1: { tensors: section1 },
    section2: { tensors: section2 },
    section3: { groupSize: GROUP_SIZE, tensors: section3 },
    section4: { tensors: section4 },
    section5: { tensors: section5 },
    section6: { tensors: pick(s6, order), skipped: skipped6 },
    section7: { tensors: pick(s7, order) },
    section8: swigluEffect({
      ffnInput: tokIn, swiglu: tokSw, dims: dimsSw,
      ffnInputShape: shapes.get(ACT_FFN_INPUT) ?? null, swigluShape: shapes.get(ACT_SWIGLU) ?? null,
      showTokens: 3, allTokens: !seed,
    }),
    section9: { tensors: pick(s9, order9), skipped: skipped9 },
    elapsedMs: performance.now() - t0,
  };
}
