// Section 8: the SwiGLU output (ffn_down's input) against the FFN input, per
// token and per dimension. Token statistics are computed per tensor so the two
// activations never need to be in memory together.
import type { Matrix } from "../../io/f32bin.js";
import type { Section8, TokenStats } from "./types.js";
import { columnMoments } from "../../stats/columns.js";
import { nn, summarize } from "./common.js";

/** Per-token (row) statistics of one activation. */
export interface TokenTable {
  readonly rows: number;
  readonly cols: number;
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly absMax: Float64Array;
  /** |x| < 0.01 × token std. */
  readonly nearZero: Float64Array;
  /** x < 0. */
  readonly negative: Float64Array;
}

export function tokenTable(m: Matrix, tokenLimit: number | null): TokenTable {
  const { cols, data } = m;
  const rows = tokenLimit === null ? m.rows : Math.min(m.rows, tokenLimit);
  const mean = new Float64Array(rows), std = new Float64Array(rows), absMax = new Float64Array(rows);
  const nearZero = new Float64Array(rows), negative = new Float64Array(rows);
  for (let t = 0; t < rows; t++) {
    const o = t * cols;
    let n = 0, s = 0, am = 0, ng = 0;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) continue;
      n++; s += x;
      const ax = x < 0 ? -x : x;
      if (ax > am) am = ax;
      if (x < 0) ng++;
    }
    const mu = n ? s / n : NaN;
    let v = 0;
    for (let c = 0; c < cols; c++) { const x = data[o + c]!; if (x - x === 0) v += (x - mu) * (x - mu); }
    const sd = n ? Math.sqrt(v / n) : NaN;
    const thr = 0.01 * sd;
    let nz = 0;
    for (let c = 0; c < cols; c++) { const x = data[o + c]!; if (x < thr && x > -thr) nz++; }
    mean[t] = mu; std[t] = sd; absMax[t] = n ? am : NaN;
    nearZero[t] = n ? nz / n : NaN; negative[t] = n ? ng / n : NaN;
  }
  return { rows, cols, mean, std, absMax, nearZero, negative };
}

/** Per-dimension SwiGLU properties over all tokens. */
export interface SwigluDims {
  readonly count: number;
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly negFrac: Float64Array;
  /** Fraction of all finite values with |x| < 0.01 × their column's RMS. */
  readonly nearZeroFraction: number;
}

export function swigluDims(m: Matrix): SwigluDims {
  const cm = columnMoments(m.data, m.rows, m.cols);
  const { rows, cols, data } = m;
  const thr = new Float64Array(cols);
  for (let c = 0; c < cols; c++) thr[c] = 0.01 * Math.sqrt(cm.std[c]! * cm.std[c]! + cm.mean[c]! * cm.mean[c]!);
  let nz = 0, n = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const x = data[o + c]!;
      if (x - x !== 0) continue;
      n++;
      if (x < thr[c]! && x > -thr[c]!) nz++;
    }
  }
  return { count: cols, mean: cm.mean, std: cm.std, negFrac: cm.negFrac, nearZeroFraction: n ? nz / n : NaN };
}

function tok(t: TokenTable, i: number): TokenStats {
  return { mean: nn(t.mean[i]!), std: nn(t.std[i]!), absMax: nn(t.absMax[i]!), nearZeroFraction: nn(t.nearZero[i]!) };
}

function avg(a: Float64Array, n: number): number | null {
  let s = 0, k = 0;
  for (let i = 0; i < n; i++) if (a[i] === a[i]) { s += a[i]!; k++; }
  return k ? s / k : null;
}

export interface SwigluInput {
  readonly ffnInput: TokenTable | null;
  readonly swiglu: TokenTable | null;
  readonly dims: SwigluDims | null;
  /** Shapes of the full tensors. */
  readonly ffnInputShape: readonly [number, number] | null;
  readonly swigluShape: readonly [number, number] | null;
  /** Tokens shown one by one (3). */
  readonly showTokens: number;
  /** Also average over every paired token (default mode). */
  readonly allTokens: boolean;
}

export function swigluEffect(inp: SwigluInput): Section8 {
  if (!inp.ffnInput || !inp.swiglu || !inp.dims) {
    return {
      available: false,
      note: "skipped: needs both act_blk0_ffn_input and act_blk0_ffn_down_input",
      ffnInputShape: inp.ffnInputShape, swigluShape: inp.swigluShape, tokens: [], allTokens: null, dims: null,
    };
  }
  const a = inp.ffnInput, s = inp.swiglu, d = inp.dims;
  const paired = Math.min(a.rows, s.rows); // defect 27: never index past the shorter one
  const shown = Math.min(paired, inp.showTokens);
  const tokens = [];
  for (let t = 0; t < shown; t++) {
    tokens.push({ token: t, ffnInput: tok(a, t), swiglu: tok(s, t), swigluNegativeFraction: nn(s.negative[t]!) });
  }
  let above = 0, below = 0;
  for (let c = 0; c < d.count; c++) {
    const f = d.negFrac[c]!;
    if (f > 0.7) above++;
    if (f < 0.3) below++;
  }
  let note: string | null = null;
  if (inp.ffnInputShape && inp.swigluShape && inp.ffnInputShape[0] !== inp.swigluShape[0]) {
    note = `token counts differ (ffn_input ${inp.ffnInputShape[0]}, swiglu ${inp.swigluShape[0]}): only the first ${paired} are paired`;
  }
  const summary = summarize(d.mean), sd = summarize(d.std);
  return {
    available: true,
    note,
    ffnInputShape: inp.ffnInputShape,
    swigluShape: inp.swigluShape,
    tokens,
    allTokens: inp.allTokens
      ? { tokens: paired, ffnInputNearZero: avg(a.nearZero, paired), swigluNearZero: avg(s.nearZero, paired), swigluNegative: avg(s.negative, paired) }
      : null,
    dims: {
      count: d.count,
      meanMin: summary.min,
      meanMax: summary.max,
      stdMin: sd.min,
      stdMax: sd.max,
      negativeFraction: summarize(d.negFrac),
      dimsNegativeAbove70: above,
      dimsNegativeBelow30: below,
      nearZeroFraction: inp.allTokens ? nn(d.nearZeroFraction) : null,
    },
  };
}
