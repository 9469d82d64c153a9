// The study's work on one tensor: everything an activation or a weight
// contributes to the nine sections, computed while that tensor alone is in
// memory. Runs on the main thread or in a worker (study-worker.ts); inputs and
// outputs are plain data so they cross a thread boundary unchanged.
import { basename } from "node:path";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { F32BIN_HEADER_BYTES, readF32Bin, validateF32BinHeader, type Matrix } from "../../io/f32bin.js";
import type {
  ActivationPower, DistributionStats, ErrorMeetsPower, GroupStats, RowGrouping, RowVariability, SuperBlockDecomposition,
} from "./types.js";
import { quantizerFor } from "./group-quantizer.js";
import { ACT_FFN_INPUT, ACT_SWIGLU, directionLabel } from "./layout.js";
import { distributionStats } from "./section1-distribution.js";
import { rowVariability } from "./section2-rows.js";
import { groupStats } from "./section3-groups.js";
import { activationPower, columnPower, type ColumnPower } from "./section5-power.js";
import { columnShape, columnShapeChunks, errorMeetsPower, type ColumnShape } from "./section6-error-power.js";
import { f32binChunks } from "./row-chunks.js";
import { rowGrouping, rowGroupingFromSums } from "./section7-row-grouping.js";
import { swigluDims, tokenTable, type SwigluDims, type TokenTable } from "./section8-swiglu.js";
import { superBlockDecomposition } from "./section9-superblocks.js";
import { overallRmse, weightError, weightErrorChunks, type WeightError } from "./weight-error.js";
import { fastWeightScan } from "./fast-weight-scan.js";
import { fastActivationScan } from "./fast-activation-scan.js";

// One buffer per thread, reused for every tensor: a fresh 100 MB array per
// tensor would leave the previous one to the GC and double peak memory.
let pool = new Float32Array(0);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads an f32bin file into the thread's reusable buffer (validated like readF32Bin). */
function readPooled(path: string): Matrix {
  if (!LITTLE_ENDIAN_HOST) return readF32Bin(path);
  let fd: number;
  try { fd = openSync(path, "r"); } catch { return readF32Bin(path); } // readF32Bin words the error
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(F32BIN_HEADER_BYTES);
    if (size >= F32BIN_HEADER_BYTES) readSync(fd, head, 0, F32BIN_HEADER_BYTES, 0);
    const { rows, cols } = validateF32BinHeader(path, head, size);
    const n = rows * cols;
    if (pool.length < n) { pool = new Float32Array(0); pool = new Float32Array(n); }
    const data = pool.subarray(0, n);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, n * 4);
    for (let done = 0; done < bytes.length;) {
      const k = readSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), F32BIN_HEADER_BYTES + done);
      if (k === 0) return readF32Bin(path); // file changed under us: let the reader report it
      done += k;
    }
    return { rows, cols, data };
  } finally {
    closeSync(fd);
  }
}

/** The study's sampling in seed-compat mode. */
export const SEED_ROWS = { s3: 256, s6: 256, s7: 64, s8: 3, s9: 128 } as const;

function nonFiniteWarning(file: string, s: DistributionStats): string | null {
  const { nan, posInf, negInf } = s.nonFinite;
  if (nan + posInf + negInf === 0) return null;
  return `${file}: ${nan} NaN, ${posInf} +Inf, ${negInf} -Inf values; excluded from every statistic`;
}

export interface ActivationJob {
  readonly key: string;
  readonly path: string;
  readonly seed: boolean;
}

export interface ActivationOutcome {
  readonly key: string;
  readonly shape: [number, number];
  readonly s4: DistributionStats;
  readonly s5: ActivationPower;
  readonly power: ColumnPower;
  /** Per-token table (section 8), for the FFN input and the SwiGLU output only. */
  readonly tokens: TokenTable | null;
  /** Per-dimension table (section 8), for the SwiGLU output only. */
  readonly dims: SwigluDims | null;
  readonly warnings: string[];
}

export function studyActivation(job: ActivationJob): ActivationOutcome {
  const file = basename(job.path);
  const wantTokens = job.key === ACT_FFN_INPUT || job.key === ACT_SWIGLU;
  let s4: DistributionStats, power: ColumnPower, tokens: TokenTable | null = null, dims: SwigluDims | null = null;
  let shape: [number, number];
  // Default mode streams the activation (a few MB held); NaN/Inf and seed-compat load it whole.
  const chunks = job.seed ? null : f32binChunks(job.path);
  const scan = chunks ? fastActivationScan(chunks, job.key, file, job.key === ACT_SWIGLU) : null;
  if (scan && chunks) {
    shape = [chunks.rows, chunks.cols];
    s4 = scan.s4; power = scan.power; dims = scan.dims;
    if (wantTokens) tokens = scan.tokens;
  } else {
    const A = readPooled(job.path);
    shape = [A.rows, A.cols];
    s4 = distributionStats(job.key, file, job.key, A);
    power = columnPower(A, job.seed);
    if (wantTokens) tokens = tokenTable(A, job.seed ? SEED_ROWS.s8 : null);
    if (job.key === ACT_SWIGLU) dims = swigluDims(A);
  }
  const w = nonFiniteWarning(file, s4);
  return { key: job.key, shape, s4, s5: activationPower(job.key, power), power, tokens, dims, warnings: w ? [w] : [] };
}

export interface WeightJob {
  readonly key: string;
  readonly path: string;
  readonly seedLabel: string | null;
  /** Activation key feeding this weight, if known. */
  readonly input: string | null;
  readonly seed: boolean;
  /** --type: "proxy" or a ggml type name (ignored in seed-compat). */
  readonly type: string;
  /** Compute sections 6/7 and 9 for this weight. */
  readonly focus6: boolean;
  readonly focus9: boolean;
  /** Power of its input activation, when that was loaded. */
  readonly power: ColumnPower | null;
}

export interface WeightOutcome {
  readonly key: string;
  readonly s1: DistributionStats;
  readonly s2: RowVariability;
  readonly s3: GroupStats;
  readonly s6: ErrorMeetsPower | null;
  readonly s7: RowGrouping | null;
  readonly s9: SuperBlockDecomposition | null;
  readonly skipped6: string[];
  readonly skipped9: string[];
  readonly warnings: string[];
}

export function studyWeight(job: WeightJob): WeightOutcome {
  const { seed, key } = job;
  const file = basename(job.path);
  const q = seed ? null : quantizerFor(job.type);
  const isProxy = q?.info.name === "proxy";
  const warnings: string[] = [];
  let s1: DistributionStats, s2: RowVariability;
  let s3partial: Omit<GroupStats, "quantRmse" | "quantNote"> | null = null;
  let s7: RowGrouping | null = null;
  let we: WeightError | null = null;
  let W: Matrix | null = null;
  let shape: ColumnShape;
  let rows: number, cols: number;
  // Default mode streams the weight (a few MB held); a tensor with NaN/Inf, and seed-compat, load it whole.
  const chunks = seed ? null : f32binChunks(job.path);
  const desc = (r: number, c: number) => (seed && job.seedLabel ? job.seedLabel : directionLabel(r, c));
  const scan = chunks ? fastWeightScan(chunks, {
    name: key, file, description: desc(chunks.rows, chunks.cols), withRowGrouping: job.focus6, withProxyError: isProxy,
    rowGrouping: (stdSum, stdRows, pos, neg, total, thr) => rowGroupingFromSums(key, chunks.cols, chunks.rows, stdSum, stdRows, pos, neg, total, thr),
  }) : null;
  if (scan && chunks) {
    ({ rows, cols } = chunks);
    s1 = scan.s1; s2 = scan.s2; s3partial = scan.s3; s7 = scan.s7;
    we = isProxy ? scan.proxyError : weightErrorChunks(chunks, q!);
    shape = columnShapeChunks(chunks);
  } else {
    W = readPooled(job.path);
    ({ rows, cols } = W);
    s1 = distributionStats(key, file, desc(rows, cols), W);
    s2 = rowVariability(key, W);
    if (q) we = weightError(W, q);
    shape = columnShape(W);
  }
  const nf = nonFiniteWarning(file, s1);
  if (nf) warnings.push(nf);
  if (cols % 16 !== 0) warnings.push(`${file}: row length ${cols} is not a multiple of 16; the last ${cols % 16} columns do not form a 16-element group${seed ? "" : " and are left out of group statistics"}`);
  else if (cols % 256 !== 0) warnings.push(`${file}: row length ${cols} is not a multiple of 256; K-quants (Q2_K..Q6_K) cannot store it and the last ${cols % 256} columns are outside every super-block`);

  const qr = we ? overallRmse(we) : null;
  const qNote = !we ? null : we.failure ?? (we.usableCols < cols ? `last ${cols - we.usableCols} columns outside whole ${q!.info.name} blocks are not measured` : null);
  const s3: GroupStats = s3partial
    ? { ...s3partial, quantRmse: qr, quantNote: qNote }
    : groupStats(key, W!, { rowLimit: seed ? SEED_ROWS.s3 : null, seed, quantRmse: qr, quantNote: qNote });

  const skipped6: string[] = [], skipped9: string[] = [];
  let s6: ErrorMeetsPower | null = null, s9: SuperBlockDecomposition | null = null;
  const p = job.power;
  const pairProblem = !job.input
    ? `${key}: SKIP (no activation is known to feed this weight)`
    : !p ? `${key}: SKIP (activation ${job.input} missing)`
    : p.dims !== cols ? `${key}: dim mismatch W=${cols} vs A=${p.dims}, SKIP` : null;
  if (job.focus6 || job.focus9) {
    if (pairProblem && p && p.dims !== cols) {
      warnings.push(`${file}: ${cols} columns but its activation ${job.input} has ${p.dims}; sections 6 and 9 skip it`);
    }
  }
  if (job.focus6) {
    s7 = s7 ?? rowGrouping(key, W!, { rowLimit: seed ? SEED_ROWS.s7 : null, seed, tensorStd: s1.std });
    if (pairProblem) skipped6.push(pairProblem);
    else s6 = errorMeetsPower({ name: key, activation: job.input!, power: p!, shape, ...(seed ? { seedWeight: W! } : { error: we! }) });
  } else s7 = null;
  if (job.focus9) {
    if (pairProblem) skipped9.push(pairProblem);
    else s9 = superBlockDecomposition({ name: key, activation: job.input!, power: p!, cols, ...(seed ? { seedWeight: W! } : { error: we! }) });
  }
  return { key, s1, s2, s3, s6, s7, s9, skipped6, skipped9, warnings };
}
