// Section 6: where weight quantization error meets activation power, per
// input dimension (column) of one weight and the activation that feeds it.
import type { Matrix } from "../../io/f32bin.js";
import type { ErrorMeetsPower, TopShare } from "../study-types.js";
import { meanStd, moments } from "../../stats/moments.js";
import { pearson } from "../../stats/correlation.js";
import { topIndices, topShare } from "../../stats/order.js";
import { nn } from "./common.js";
import type { ColumnPower } from "./section5-power.js";
import type { WeightError } from "./weight-error.js";
import { seedSection6DimMse } from "./seed-proxy.js";

const FRACTIONS = [0.01, 0.05, 0.1, 0.25] as const;

/** Std and excess kurtosis of one weight column over all rows (the study's w_std, w_kurt); only the top dimensions are asked for. */
export type ColumnShape = (dim: number) => { readonly std: number; readonly kurt: number };

export function columnShape(m: Matrix): ColumnShape {
  return (dim) => {
    const mo = moments(m.data, dim, m.data.length, m.cols);
    return { std: mo.std, kurt: mo.std > 0 ? mo.excessKurtosis : -3 };
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
    topDims: topIndices(contrib, 5).map((d) => {
      const sh = shape(d);
      return { dim: d, actRms: act[d]!, wRmse: wRmse[d]!, contrib: contrib[d]!, wStd: sh.std, wKurt: sh.kurt };
    }),
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
