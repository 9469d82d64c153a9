// Default-mode fast path for an activation with no NaN/Inf: section 4's
// distribution, section 5's per-column power, section 8's per-token table and
// (for the SwiGLU input) its per-dimension table, in two fused passes. Tensors
// with non-finite values take the per-section functions instead
// (test/study-fast-path.test.ts checks that both paths agree).
import type { Matrix } from "../../io/f32bin.js";
import type { RowChunks } from "./row-chunks.js";
import type { DistributionStats } from "../study-types.js";
import { absBelowKeys, countBelow, finish, prepare } from "../../stats/radix-hist.js";
import { nn } from "./common.js";
import { PERCENTILES } from "./section1-distribution.js";
import type { ColumnPower } from "./section5-power.js";
import type { SwigluDims, TokenTable } from "./section8-swiglu.js";

export interface FastActivationScan {
  readonly s4: DistributionStats;
  readonly power: ColumnPower;
  readonly tokens: TokenTable;
  readonly dims: SwigluDims | null;
}

function actRowA(
  data: Float32Array, u: Uint32Array, o: number, cols: number, hist: Uint32Array,
  colSum: Float64Array, colSq: Float64Array, colNeg: Float64Array, out: Float64Array,
): void {
  let s = 0, s2 = 0, mn = Infinity, mx = -Infinity, neg = 0;
  for (let c = 0; c < cols; c++) {
    const x = data[o + c]!;
    const x2 = x * x;
    s += x; s2 += x2;
    mn = Math.min(mn, x); mx = Math.max(mx, x);
    const b = u[o + c]!;
    // sign bit, except for -0 (branch-free; a data-dependent x < 0 branch mispredicts on activations)
    const isNeg = (b >>> 31) - (b === 0x80000000 ? 1 : 0);
    neg += isNeg;
    colSum[c] += x; colSq[c] += x2; colNeg[c] += isNeg;
    hist[(b ^ (-(b >>> 31) | 0x80000000)) >>> 16]!++;
  }
  out[0] = s; out[1] = s2; out[2] = mn; out[3] = mx; out[4] = neg;
}

/** Pass B over one token: adds central moments and the column-near-zero count to st; returns the token's near-zero count. */
function actRowB(
  data: Float32Array, u: Uint32Array, o: number, cols: number, mean: number, thr: number, colThr: Float64Array,
  want: Uint32Array, slot: Int32Array, lo: Uint32Array, st: Float64Array,
): number {
  let c2 = 0, c3 = 0, c4 = 0, near = 0, colNear = 0;
  for (let c = 0; c < cols; c++) {
    const x = data[o + c]!;
    const d = x - mean, d2 = d * d;
    c2 += d2; c3 += d2 * d; c4 += d2 * d2;
    if (Math.abs(x) < thr) near++;
    if (Math.abs(x) < colThr[c]!) colNear++;
    const b = u[o + c]!;
    const key = (b ^ (-(b >>> 31) | 0x80000000)) >>> 0;
    const hi = key >>> 16;
    if ((want[hi >>> 5]! >>> (hi & 31)) & 1) lo[slot[hi]! * 65536 + (key & 0xffff)]!++;
  }
  st[0] += c2; st[1] += c3; st[2] += c4; st[3] += colNear;
  return near;
}

/** A whole matrix as one chunk (tests, and callers that already hold it). */
export function matrixChunks(m: Matrix): RowChunks {
  return { rows: m.rows, cols: m.cols, chunkRows: m.rows, *chunks(into?: Float32Array) { if (into) into.set(m.data); yield { data: into ? into.subarray(0, m.data.length) : m.data, row0: 0, nRows: m.rows }; } };
}

/**
 * Streams the activation in row chunks (only a few MB held, like the weights).
 * Returns null when it holds a NaN or ±Infinity (the caller then takes the checked path).
 */
export function fastActivationScan(src: RowChunks, name: string, file: string, withDims: boolean): FastActivationScan | null {
  const { rows, cols } = src;
  const n = rows * cols;
  const hist = new Uint32Array(65536);
  const colSum = new Float64Array(cols), colSq = new Float64Array(cols), colNeg = new Float64Array(cols);
  const tMean = new Float64Array(rows), tStd = new Float64Array(rows), tAbs = new Float64Array(rows);
  const tNear = new Float64Array(rows), tNeg = new Float64Array(rows);
  let gSum = 0, gSq = 0, gMin = Infinity, gMax = -Infinity;
  // ---- pass A (per-row function: see fast-weight-scan.ts on why)
  const out = new Float64Array(5);
  for (const { data, row0, nRows } of src.chunks()) {
    const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let r = 0; r < nRows; r++) {
      const t = row0 + r;
      actRowA(data, u, r * cols, cols, hist, colSum, colSq, colNeg, out);
      const s = out[0]!, s2 = out[1]!, mn = out[2]!, mx = out[3]!;
      const mu = s / cols;
      tMean[t] = mu; tStd[t] = Math.sqrt(Math.max(0, s2 / cols - mu * mu));
      tAbs[t] = mx > -mn ? mx : -mn; tNeg[t] = out[4]! / cols;
      gSum += s; gSq += s2;
      if (mn < gMin) gMin = mn;
      if (mx > gMax) gMax = mx;
    }
  }
  // Any NaN/Inf makes these sums non-finite (huge finite values may too: the checked path handles both).
  if (!Number.isFinite(gSum) || !Number.isFinite(gSq)) return null;
  const mean = gSum / n;
  const nzThr = 0.001 * Math.sqrt(Math.max(0, gSq / n - mean * mean));
  // |x| < 0.001·std is counted from the key histograms (no per-element test).
  const nzKeys = absBelowKeys(nzThr);
  const plan = prepare(hist, n, PERCENTILES, nzKeys ? [nzKeys.loKey, nzKeys.hiKey] : []);
  const slot = plan.slot, lo = plan.lo;
  // 8 KB bit set of the wanted buckets: stays in L1, unlike the 256 KB slot table
  const want = new Uint32Array(2048);
  for (let b = 0; b < 65536; b++) if (slot[b]! >= 0) want[b >>> 5]! |= 1 << (b & 31);
  const colThr = new Float64Array(cols);
  for (let c = 0; c < cols; c++) colThr[c] = 0.01 * Math.sqrt(colSq[c]! / rows);
  // ---- pass B
  const st = new Float64Array(5);
  for (const { data, row0, nRows } of src.chunks()) {
    const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let r = 0; r < nRows; r++) {
      const t = row0 + r;
      tNear[t] = actRowB(data, u, r * cols, cols, mean, 0.01 * tStd[t]!, colThr, want, slot, lo, st) / cols;
    }
  }
  const c2 = st[0]!, c3 = st[1]!, c4 = st[2]!, colNear = st[3]!;
  let nearZero = 0;
  const variance = c2 / n, std = Math.sqrt(variance);
  const pct = finish(plan);
  nearZero = nzKeys ? countBelow(plan, hist, nzKeys.hiKey) - countBelow(plan, hist, nzKeys.loKey) : 0;
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
