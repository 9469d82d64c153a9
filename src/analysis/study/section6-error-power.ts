// Section 6: where weight quantization error meets activation power, per
// input dimension (column) of one weight and the activation that feeds it.
import type { Matrix } from "../../io/f32bin.js";
import type { ErrorMeetsPower, TopShare } from "./types.js";
import { meanStd, moments } from "../../stats/moments.js";
import { pearson } from "../../stats/correlation.js";
import { topIndices, topShare } from "../../stats/order.js";
import { nn } from "./common.js";
import type { ColumnPower } from "./section5-power.js";
import type { WeightError } from "./weight-error.js";
import type { RowChunks } from "./row-chunks.js";
import { seedSection6DimMse } from "./seed-proxy.js";

const FRACTIONS = [0.01, 0.05, 0.1, 0.25] as const;

/** Std and excess kurtosis of some weight columns over all rows (the study's w_std, w_kurt); only the top dimensions are asked for. */
export type ColumnShape = (dims: readonly number[]) => { readonly std: number; readonly kurt: number }[];

export function columnShape(m: Matrix): ColumnShape {
  return (dims) => dims.map((dim) => {
    const mo = moments(m.data, dim, m.data.length, m.cols);
    return { std: mo.std, kurt: mo.std > 0 ? mo.excessKurtosis : -3 };
  });
}

/** The same from a streamed weight: one more pass over its rows, reading only the asked columns. */
export function columnShapeChunks(src: RowChunks): ColumnShape {
  return (dims) => {
    const k = dims.length, cols = src.cols;
    const s = new Float64Array(k), m2 = new Float64Array(k), m4 = new Float64Array(k);
    // shifted sums (shift = first row's value) keep the f64 moments accurate
    const shift = new Float64Array(k);
    const p2 = new Float64Array(k), p3 = new Float64Array(k), p4 = new Float64Array(k);
    for (const { data, row0, nRows } of src.chunks()) {
      for (let r = 0; r < nRows; r++) {
        for (let j = 0; j < k; j++) {
          const x = data[r * cols + dims[j]!]!;
          if (row0 === 0 && r === 0) shift[j] = x;
          const d = x - shift[j]!, d2 = d * d;
          s[j] += d; p2[j] += d2; p3[j] += d2 * d; p4[j] += d2 * d2;
        }
      }
    }
    const n = src.rows;
    return dims.map((_, j) => {
      const mu = s[j]! / n, e2 = p2[j]! / n, e3 = p3[j]! / n, e4 = p4[j]! / n;
      const v = Math.max(0, e2 - mu * mu);
      m2[j] = v;
      m4[j] = e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu ** 4;
      return { std: Math.sqrt(v), kurt: v > 0 ? m4[j]! / (v * v) - 3 : -3 };
    });
  };
}

function shares(values: ArrayLike<number>, dims: number): TopShare[] {
  return FRACTIONS.map((fraction) => ({ fraction, sharePct: nn(topShare(values, Math.max(1, Math.floor(dims * fraction)))) }));
}

export interface ErrorPowerInput {
  readonly name: string;
  readonly activation: string;
  readonly power: ColumnPower;
  readonly shape: ColumnShape;
  /** Per-column error sums from the selected quantizer (default mode). */
  readonly error?: WeightError;
  /** Seed-compat: the weight itself (its first 256 rows get the study's proxy). */
  readonly seedWeight?: Matrix;
}

const SEED_ROWS = 256;

export function errorMeetsPower(inp: ErrorPowerInput): ErrorMeetsPower {
  const { power, shape } = inp;
  let dims = power.dims;
  let rowsUsed: number;
  let wRmse: Float64Array;
  let wMse: Float64Array;
  let note: string | null = null;
  if (inp.seedWeight) {
    const W = inp.seedWeight;
    rowsUsed = Math.min(W.rows, SEED_ROWS);
    const dimMse = seedSection6DimMse(W.data, W.cols, rowsUsed);
    wMse = dimMse.map((s) => s / rowsUsed);
    wRmse = wMse.map(Math.sqrt);
  } else {
    const we = inp.error!;
    rowsUsed = we.rows;
    if (we.failure) {
      return empty(inp, rowsUsed, `quantization error not measured: ${we.failure}`);
    }
    if (we.usableCols < dims) {
      note = `the last ${dims - we.usableCols} columns do not fill a quantizer block and are left out`;
      dims = we.usableCols;
    }
    wMse = new Float64Array(dims);
    for (let c = 0; c < dims; c++) wMse[c] = we.colCount[c]! > 0 ? we.colSse[c]! / we.colCount[c]! : NaN;
    wRmse = wMse.map(Math.sqrt);
  }
  const act = power.rms.subarray(0, dims);
  const contrib = new Float64Array(dims);
  const varContrib = new Float64Array(dims);
  for (let d = 0; d < dims; d++) {
    contrib[d] = act[d]! * wRmse[d]!;
    varContrib[d] = power.meanSquare[d]! * wMse[d]!;
  }
  const a = meanStd(act), w = meanStd(wRmse), cs = meanStd(contrib);
  let expected = 0;
  for (let d = 0; d < dims; d++) if (varContrib[d] === varContrib[d]) expected += varContrib[d]!;
  const seed = inp.seedWeight !== undefined;
  return {
    name: inp.name,
    activation: inp.activation,
    dims,
    rowsUsed,
    actRmsMean: nn(a.mean),
    actRmsCv: nn(a.std / a.mean),
    wRmseMean: nn(w.mean),
    wRmseCv: nn(w.std / (w.mean + (seed ? 1e-10 : 0))),
    contribMean: nn(cs.mean),
    contribStd: nn(cs.std),
    correlation: pearson(act, wRmse),
    topDims: ((top) => {
      const sh = shape(top);
      return top.map((d, j) => ({ dim: d, actRms: act[d]!, wRmse: wRmse[d]!, contrib: contrib[d]!, wStd: sh[j]!.std, wKurt: sh[j]!.kurt }));
    })(topIndices(contrib, 5)),
    contribShares: shares(contrib, dims),
    errorVarianceShares: seed ? [] : shares(varContrib, dims),
    expectedOutputMse: seed ? null : expected,
    note,
  };
}

function empty(inp: ErrorPowerInput, rowsUsed: number, note: string): ErrorMeetsPower {
  const a = meanStd(inp.power.rms);
  return {
    name: inp.name, activation: inp.activation, dims: inp.power.dims, rowsUsed,
    actRmsMean: nn(a.mean), actRmsCv: nn(a.std / a.mean),
    wRmseMean: null, wRmseCv: null, contribMean: null, contribStd: null, correlation: null,
    topDims: [], contribShares: [], errorVarianceShares: [], expectedOutputMse: null, note,
  };
}
