// Default-mode fast path for an activation with no NaN/Inf: section 4's
// distribution, section 5's per-column power, section 8's per-token table and
// (for the SwiGLU input) its per-dimension table, in two fused passes. Tensors
// with non-finite values take the per-section functions instead
// (test/study-default.test.ts checks that both paths agree).
import type { Matrix } from "../../io/f32bin.js";
import type { RowChunks } from "./row-chunks.js";
import type { DistributionStats } from "./types.js";
import { finish } from "../../stats/radix-hist.js";
import { nn } from "./common.js";
import { PERCENTILES } from "./section1-distribution.js";
import { radixPlanInKernel } from "./radix-in-kernel.js";
import { Arena, kernels } from "../../quant/wasm.js";
import type { ColumnPower } from "./section5-power.js";
import type { SwigluDims, TokenTable } from "./section8-swiglu.js";

export interface FastActivationScan {
  readonly s4: DistributionStats;
  readonly power: ColumnPower;
  readonly tokens: TokenTable;
  readonly dims: SwigluDims | null;
}

type PassA = (data: number, nRows: number, cols: number, hist: number, colSum: number, colSq: number, colNeg: number, rowOut: number) => void;
type PassB = (
  data: number, nRows: number, cols: number, mean: number, tokThr: number, colThr: number,
  want: number, slot: number, lo: number, st: number, near: number,
) => void;

/** A whole matrix as one chunk (tests, and callers that already hold it). */
export function matrixChunks(m: Matrix): RowChunks {
  return { rows: m.rows, cols: m.cols, chunkRows: m.rows, *chunks(into?: Float32Array) { if (into) into.set(m.data); yield { data: into ? into.subarray(0, m.data.length) : m.data, row0: 0, nRows: m.rows }; } };
}

/**
 * Streams the activation in row chunks (only a few MB held, like the weights).
 * Returns null when it holds a NaN or ±Infinity (the caller then takes the checked path).
 */
export function fastActivationScan(src: RowChunks, name: string, file: string, withDims: boolean): FastActivationScan | null {
  const { rows, cols, chunkRows } = src;
  const n = rows * cols;
  // Both passes run in WASM (assembly/study.ts, f64 in two SIMD lanes), the chunks read into its memory.
  const wasm = kernels(), arena = new Arena(wasm);
  const pData = arena.alloc(chunkRows * cols * 4), pHist = arena.alloc(65536 * 4), pRow = arena.alloc(chunkRows * 5 * 8);
  const pSum = arena.alloc(cols * 8), pSq = arena.alloc(cols * 8), pNeg = arena.alloc(cols * 8), pColThr = arena.alloc(cols * 8);
  const pTok = arena.alloc(chunkRows * 8), pNear = arena.alloc(chunkRows * 8), pSt = arena.alloc(4 * 8);
  const pWant = arena.alloc(2048 * 4), pSlot = arena.alloc(65536 * 4);
  const mem = () => wasm.memory.buffer; // take views after allocating (growing memory detaches them)
  const passA = wasm.studyActPassA as PassA, passB = wasm.studyActPassB as PassB;
  const tMean = new Float64Array(rows), tStd = new Float64Array(rows), tAbs = new Float64Array(rows);
  const tNear = new Float64Array(rows), tNeg = new Float64Array(rows);
  let gSum = 0, gSq = 0, gMin = Infinity, gMax = -Infinity;
  // ---- pass A
  new Uint32Array(mem(), pHist, 65536).fill(0);
  new Float64Array(mem(), pSum, 3 * cols).fill(0); // colSum, colSq, colNeg are adjacent
  const wRow = new Float64Array(mem(), pRow, chunkRows * 5);
  for (const { row0, nRows } of src.chunks(new Float32Array(mem(), pData, chunkRows * cols))) {
    passA(pData, nRows, cols, pHist, pSum, pSq, pNeg, pRow);
    for (let r = 0; r < nRows; r++) {
      const t = row0 + r;
      const s = wRow[5 * r]!, s2 = wRow[5 * r + 1]!, mn = wRow[5 * r + 2]!, mx = wRow[5 * r + 3]!;
      const mu = s / cols;
      tMean[t] = mu; tStd[t] = Math.sqrt(Math.max(0, s2 / cols - mu * mu));
      tAbs[t] = mx > -mn ? mx : -mn; tNeg[t] = wRow[5 * r + 4]! / cols;
      gSum += s; gSq += s2;
      if (mn < gMin) gMin = mn;
      if (mx > gMax) gMax = mx;
    }
  }
  // Any NaN/Inf makes these sums non-finite (huge finite values may too: the checked path handles both).
  if (!Number.isFinite(gSum) || !Number.isFinite(gSq)) return null;
  const hist = new Uint32Array(mem(), pHist, 65536).slice();
  const colSum = new Float64Array(mem(), pSum, cols).slice(), colSq = new Float64Array(mem(), pSq, cols).slice();
  const colNeg = new Float64Array(mem(), pNeg, cols).slice();
  const mean = gSum / n;
  const radix = radixPlanInKernel(arena, mem, hist, n, gSum, gSq, pWant, pSlot);
  const pLo = radix.pLo;
  const colThr = new Float64Array(mem(), pColThr, cols);
  for (let c = 0; c < cols; c++) colThr[c] = 0.01 * Math.sqrt(colSq[c]! / rows);
  // ---- pass B
  const wSt = new Float64Array(mem(), pSt, 4).fill(0);
  const wTok = new Float64Array(mem(), pTok, chunkRows), wNear = new Float64Array(mem(), pNear, chunkRows);
  for (const { row0, nRows } of src.chunks(new Float32Array(mem(), pData, chunkRows * cols))) {
    for (let r = 0; r < nRows; r++) wTok[r] = 0.01 * tStd[row0 + r]!;
    passB(pData, nRows, cols, mean, pTok, pColThr, pWant, pSlot, pLo, pSt, pNear);
    for (let r = 0; r < nRows; r++) tNear[row0 + r] = wNear[r]! / cols;
  }
  // read the kernel's memory now: it is this thread's scratch space, reused by the next kernel call
  const plan = radix.plan;
  const pct = finish(plan);
  const nearZero = radix.nearZero(plan);
  const c2 = wSt[0]!, c3 = wSt[1]!, c4 = wSt[2]!, colNear = wSt[3]!;
  const variance = c2 / n, std = Math.sqrt(variance);
  const s4: DistributionStats = {
    name, file, description: name, rows, cols, n,
    nonFinite: { nan: 0, posInf: 0, negInf: 0 },
    mean, std, min: gMin, max: gMax, median: pct[4]!,
    meanOverStd: nn(Math.abs(mean) / (std + 1e-10)),
    skewness: std > 0 ? c3 / n / (variance * std) : 0,
    excessKurtosis: std > 0 ? c4 / n / (variance * variance) - 3 : -3,
    percentiles: PERCENTILES.map((p, i) => ({ p, value: pct[i]! })),
    nearZeroFraction: nearZero / n,
  };
  const ms = colSq.map((s) => s / rows);
  const power: ColumnPower = { tokens: rows, dims: cols, meanSquare: ms, rms: ms.map(Math.sqrt), count: new Float64Array(cols).fill(rows) };
  const tokens: TokenTable = { rows, cols, mean: tMean, std: tStd, absMax: tAbs, nearZero: tNear, negative: tNeg };
  let dims: SwigluDims | null = null;
  if (withDims) {
    const cm = colSum.map((s) => s / rows);
    dims = {
      count: cols,
      mean: cm,
      std: cm.map((mu, c) => Math.sqrt(Math.max(0, ms[c]! - mu * mu))),
      negFrac: colNeg.map((k) => k / rows),
      nearZeroFraction: colNear / n,
    };
  }
  return { s4, power, tokens, dims };
}
