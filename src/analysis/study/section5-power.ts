// Section 5: per-dimension activation power (RMS of each input column over tokens).
import type { Matrix } from "../../io/f32bin.js";
import type { ActivationPower } from "./types.js";
import { columnSumSquares } from "../../stats/columns.js";
import { bottomIndices, topIndices, topShare } from "../../stats/order.js";
import { f32 } from "../../stats/float32.js";
import { nn, summarize } from "./common.js";

/** Per-column power of an activation, kept for sections 6 and 9 after the tensor is released. */
export interface ColumnPower {
  readonly tokens: number;
  readonly dims: number;
  /** Mean of x² per column over finite tokens. */
  readonly meanSquare: Float64Array;
  /** sqrt(meanSquare). */
  readonly rms: Float64Array;
  /** Finite values per column. */
  readonly count: Float64Array;
}

/**
 * Per-column power. Seed-compat reproduces numpy's float32 arithmetic exactly
 * (A**2 in float32, a sequential float32 sum down each column, float32 divide
 * and sqrt), so the ranking of near-equal columns matches the study.
 */
export function columnPower(m: Matrix, seed: boolean): ColumnPower {
  const { rows, cols, data } = m;
  if (seed) {
    const sum = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) { const x = data[o + c]!; sum[c] = f32(sum[c]! + f32(x * x)); }
    }
    const ms = sum.map((s) => f32(s / rows));
    return { tokens: rows, dims: cols, meanSquare: ms, rms: ms.map((v) => f32(Math.sqrt(v))), count: new Float64Array(cols).fill(rows) };
  }
  const { sumsq, count } = columnSumSquares(data, rows, cols);
  const ms = sumsq.map((s, c) => (count[c]! > 0 ? s / count[c]! : NaN));
  return { tokens: rows, dims: cols, meanSquare: ms, rms: ms.map(Math.sqrt), count };
}

export function activationPower(name: string, p: ColumnPower): ActivationPower {
  const s = summarize(p.rms);
  const top = topIndices(p.rms, 5);
  const bottom = bottomIndices(p.rms, 5);
  let dead = 0;
  for (let c = 0; c < p.dims; c++) if (p.rms[c] === 0) dead++;
  const power = p.rms.map((r) => r * r);
  return {
    name,
    tokens: p.tokens,
    dims: p.dims,
    colRms: s,
    cv: s.std !== null && s.mean ? nn(s.std / s.mean) : null,
    maxMinRatio: s.max !== null && s.min ? nn(s.max / s.min) : null,
    deadDims: dead,
    top: top.map((d) => ({ dim: d, value: p.rms[d]! })),
    bottom: bottom.map((d) => ({ dim: d, value: p.rms[d]! })),
    top10PctPowerShare: nn(topShare(power, Math.floor(p.dims * 0.1))),
    top1PctPowerShare: nn(topShare(power, Math.max(1, Math.floor(p.dims * 0.01)))),
  };
}
