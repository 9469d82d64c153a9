// Default-mode fast path for a weight with no NaN/Inf: sections 1, 2, 3, 7
// and the proxy error of 3/6/9 in two fused passes over the tensor (the element
// loops in WASM: assembly/study.ts). They have no per-element finiteness checks;
// a tensor with non-finite values is detected by its sums and takes the
// per-section functions instead, and test/study-default.test.ts checks that
// both paths agree.
import type { RowChunks } from "./row-chunks.js";
import type { DistributionStats, GroupStats, RowGrouping, RowVariability, Summary } from "./types.js";
import { countLow, finish, prepare } from "../../stats/radix-hist.js";
import { nn, summarize } from "./common.js";
import { PERCENTILES } from "./section1-distribution.js";
import { radixPlanInKernel } from "./radix-in-kernel.js";
import type { WeightError } from "./weight-error.js";
import { Arena, kernels } from "../../quant/wasm.js";

const GS = 16;

export interface FastWeightScan {
  readonly s1: DistributionStats;
  readonly s2: RowVariability;
  readonly s3: Omit<GroupStats, "quantRmse" | "quantNote">;
  readonly s7: RowGrouping | null;
  /** Proxy quantizer error per column (only when asked for). */
  readonly proxyError: WeightError | null;
}

export interface FastScanOptions {
  readonly name: string;
  readonly file: string;
  readonly description: string;
  /** Also compute section 7 (focus weights). */
  readonly withRowGrouping: boolean;
  /** Also measure the proxy quantizer's per-column error. */
  readonly withProxyError: boolean;
  /** Builds the section 7 result from its sums (section7-row-grouping.ts). */
  readonly rowGrouping: (stdSum: number, stdRows: number, pos: number, neg: number, total: number, threshold: number) => RowGrouping;
}

function fromSums(s: number, s2: number, k: number, mn: number, mx: number): Summary {
  if (k === 0) return { mean: null, std: null, min: null, max: null };
  const mu = s / k;
  return { mean: mu, std: Math.sqrt(Math.max(0, s2 / k - mu * mu)), min: mn, max: mx };
}

// Pass B state slots (Float64Array), accumulated over rows; the same layout in assembly/study.ts.
const C2 = 0, C3 = 1, C4 = 2, GM_S = 3, GM_S2 = 4, GM_MIN = 5, GM_MAX = 6, GS_S = 7, GS_S2 = 8, GS_MIN = 9, GS_MAX = 10;
const GR_S = 11, GR_S2 = 12, GR_MIN = 13, GR_MAX = 14, OFF_S = 15, OFF_MAX = 16, A1 = 17, A2 = 18, A3 = 19;
const MSE_NO = 20, MSE_W = 21, S7_STD = 22, S7_POS = 23, S7_NEG = 24, K = 25, MEAN = 26, S7_THR = 27;
const STATE = 28;

// One offsets buffer per thread, reused (a fresh 6 MB array per tensor would wait for the GC).
let offsetsPool = new Float32Array(0);

type PassA = (data: number, nRows: number, cols: number, hist: number, rowOut: number) => void;
type PassB = (
  data: number, nRows: number, cols: number, st: number, want: number, slot: number, lo: number,
  offsets: number, colSse: number, withErr: number, offHist: number,
) => void;

/**
 * Returns null when the tensor holds a NaN or ±Infinity (the caller then takes the checked path).
 * Both passes over the elements run in WASM (assembly/study.ts: f64 in two SIMD lanes, the same
 * per-element operations as scalar code; ~2x faster than V8's scalar loops); the chunks are read
 * straight into the module's memory.
 */
export function fastWeightScan(src: RowChunks, opt: FastScanOptions): FastWeightScan | null {
  const { rows, cols, chunkRows } = src;
  const n = rows * cols;
  const span = cols - (cols % GS);
  const gpr = span / GS;
  const withErr = opt.withProxyError;
  const wasm = kernels(), arena = new Arena(wasm);
  const pData = arena.alloc(chunkRows * cols * 4), pHist = arena.alloc(65536 * 4), pRow = arena.alloc(chunkRows * 4 * 8);
  const pSt = arena.alloc(STATE * 8), pWant = arena.alloc(2048 * 4), pSlot = arena.alloc(65536 * 4);
  const pSse = arena.alloc(span * 8), pOff = arena.alloc(chunkRows * gpr * 4), pOffHist = arena.alloc(65536 * 4);
  const mem = () => wasm.memory.buffer; // take views after allocating (growing memory detaches them)
  const wData = new Float32Array(mem(), pData, chunkRows * cols);
  const wRow = new Float64Array(mem(), pRow, chunkRows * 4);
  const passA = wasm.studyPassA as PassA, passB = wasm.studyPassB as PassB;

  // ---- pass A: global and per-row sums and extremes, high key bits
  let gSum = 0, gSq = 0, gMin = Infinity, gMax = -Infinity;
  const rowMean = new Float64Array(rows), rowStd = new Float64Array(rows), rowRange = new Float64Array(rows);
  new Uint32Array(mem(), pHist, 65536).fill(0);
  for (const { row0, nRows } of src.chunks(wData)) {
    passA(pData, nRows, cols, pHist, pRow);
    for (let rr = 0; rr < nRows; rr++) {
      const s = wRow[4 * rr]!, s2 = wRow[4 * rr + 1]!, mn = wRow[4 * rr + 2]!, mx = wRow[4 * rr + 3]!;
      const r = row0 + rr, rm = s / cols;
      rowMean[r] = rm; rowRange[r] = mx - mn;
      rowStd[r] = Math.sqrt(Math.max(0, s2 / cols - rm * rm));
      gSum += s; gSq += s2;
      if (mn < gMin) gMin = mn;
      if (mx > gMax) gMax = mx;
    }
  }
  // Any NaN/Inf makes these sums non-finite (huge finite values may too: the checked path handles both).
  if (!Number.isFinite(gSum) || !Number.isFinite(gSq)) return null;
  const hist = new Uint32Array(mem(), pHist, 65536).slice();
  const mean = gSum / n;
  const radix = radixPlanInKernel(arena, mem, hist, n, gSum, gSq, pWant, pSlot);
  const plan = radix.plan;

  // ---- pass B: central moments, low key bits, groups, 2-bit models
  const wSt = new Float64Array(mem(), pSt, STATE).fill(0);
  wSt[GM_MIN] = wSt[GS_MIN] = wSt[GR_MIN] = Infinity;
  wSt[GM_MAX] = wSt[GS_MAX] = wSt[GR_MAX] = wSt[OFF_MAX] = -Infinity;
  wSt[MEAN] = mean;
  wSt[S7_THR] = (0.1 * Math.sqrt(Math.max(0, gSq / n - mean * mean))) / Math.sqrt(GS);
  const wSse = new Float64Array(mem(), pSse, span).fill(0);
  const wOff = new Float32Array(mem(), pOff, chunkRows * gpr);
  new Uint32Array(mem(), pOffHist, 65536).fill(0);
  if (offsetsPool.length < rows * gpr) { offsetsPool = new Float32Array(0); offsetsPool = new Float32Array(rows * gpr); }
  const offsets = offsetsPool;
  for (const { row0, nRows } of src.chunks(new Float32Array(mem(), pData, chunkRows * cols))) {
    passB(pData, nRows, cols, pSt, pWant, pSlot, plan.lo.byteOffset, pOff, pSse, withErr ? 1 : 0, pOffHist);
    offsets.set(wOff.subarray(0, nRows * gpr), row0 * gpr);
  }
  // read the kernel's memory now (or copy it): it is this thread's scratch space, reused by the next kernel call
  const st = wSt.slice();
  const pct = finish(plan);
  const nearZero = radix.nearZero(plan);
  const offHist = new Uint32Array(mem(), pOffHist, 65536).slice();
  const colSse = withErr ? wSse.slice() : new Float64Array(0);
  const c2 = st[C2]!, c3 = st[C3]!, c4 = st[C4]!, k = st[K]!;
  const gmS = st[GM_S]!, gmS2 = st[GM_S2]!, gmMin = st[GM_MIN]!, gmMax = st[GM_MAX]!;
  const gsS = st[GS_S]!, gsS2 = st[GS_S2]!, gsMin = st[GS_MIN]!, gsMax = st[GS_MAX]!;
  const grS = st[GR_S]!, grS2 = st[GR_S2]!, grMin = st[GR_MIN]!, grMax = st[GR_MAX]!;
  const offS = st[OFF_S]!, offMax = st[OFF_MAX]!, a1 = st[A1]!, a2 = st[A2]!, a3 = st[A3]!;
  const mseNo = st[MSE_NO]!, mseWith = st[MSE_W]!, s7StdSum = st[S7_STD]!, s7Pos = st[S7_POS]!, s7Neg = st[S7_NEG]!;
  const s7Thr = st[S7_THR]!;

  // ---- assemble
  const variance = c2 / n, std = Math.sqrt(variance);
  const s1: DistributionStats = {
    name: opt.name, file: opt.file, description: opt.description, rows, cols, n,
    nonFinite: { nan: 0, posInf: 0, negInf: 0 },
    mean, std, min: gMin, max: gMax, median: pct[4]!,
    meanOverStd: nn(Math.abs(mean) / (std + 1e-10)),
    skewness: std > 0 ? c3 / n / (variance * std) : 0,
    excessKurtosis: std > 0 ? c4 / n / (variance * variance) - 3 : -3,
    percentiles: PERCENTILES.map((p, i) => ({ p, value: pct[i]! })),
    nearZeroFraction: nearZero / n,
  };
  const rmS = summarize(rowMean), rsS = summarize(rowStd);
  const s2: RowVariability = {
    name: opt.name, rows, cols, rowMeans: rmS, rowStds: rsS, rowRanges: summarize(rowRange),
    rowMeansCv: nn(rmS.std! / (Math.abs(rmS.mean!) + 1e-10)),
    rowMeanSpread: rsS.mean ? nn(rmS.std! / rsS.mean) : null,
    rowStdsCv: nn(rsS.std! / (rsS.mean! + 1e-10)),
    rowsWithNonFinite: 0,
  };
  // offset percentiles: pass B counted their high key bits; one pass over them for the low bits
  const offPlan = prepare(offHist, k, [50, 90]);
  countLow(offPlan, new Uint32Array(offsets.buffer, 0, k), k);
  const [median, p90] = finish(offPlan);
  const cnt = rows * span;
  const rmseNo = Math.sqrt(mseNo / cnt), rmseWith = Math.sqrt(mseWith / cnt);
  const s3 = {
    name: opt.name, rowsUsed: rows, groups: k, tailColumns: cols % GS,
    groupMean: fromSums(gmS, gmS2, k, gmMin, gmMax),
    groupStd: fromSums(gsS, gsS2, k, gsMin, gsMax),
    groupRange: fromSums(grS, grS2, k, grMin, grMax),
    offsetImportance: {
      mean: k ? offS / k : null, median: nn(median!), p90: nn(p90!), max: k ? offMax : null,
      above: ([[0.1, a1], [0.2, a2], [0.3, a3]] as const).map(([threshold, c]) => ({ threshold, fraction: k ? c / k : null })),
    },
    rmseNoOffset: nn(rmseNo), rmseWithOffset: nn(rmseWith),
    offsetBenefitPct: rmseNo > 0 ? nn(((rmseNo - rmseWith) / rmseNo) * 100) : null,
  };
  return {
    s1, s2, s3,
    s7: opt.withRowGrouping ? opt.rowGrouping(s7StdSum, gpr > 0 ? rows : 0, s7Pos, s7Neg, k, s7Thr) : null,
    proxyError: withErr
      ? { usableCols: span, colSse, colCount: new Float64Array(span).fill(rows), rows, failure: span === 0 ? `row length ${cols} is shorter than one proxy block (16)` : null }
      : null,
  };
}
