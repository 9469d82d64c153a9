// Section 9: activation power and weight quantization error per 256-column
// super-block (Q2_K's block), and which blocks dominate their product.
import type { Matrix } from "../../io/f32bin.js";
import type { SuperBlockDecomposition, SuperBlockRow } from "./types.js";
import { pearson } from "../../stats/correlation.js";
import { topIndices } from "../../stats/order.js";
import { nn, summarize } from "./common.js";
import type { ColumnPower } from "./section5-power.js";
import type { WeightError } from "./weight-error.js";
import { seedSection9BlockMse } from "./seed-proxy.js";

const SB = 256;
const SEED_ROWS = 128;

export interface SuperBlockInput {
  readonly name: string;
  readonly activation: string;
  readonly power: ColumnPower;
  readonly cols: number;
  /** Default mode: per-column error of the selected quantizer. */
  readonly error?: WeightError;
  /** Seed-compat: the weight (first 128 rows, the study's proxy) and the activation (its power in float64 per block). */
  readonly seedWeight?: Matrix;
}

export function superBlockDecomposition(inp: SuperBlockInput): SuperBlockDecomposition {
  const { cols, power } = inp;
  const nSb = Math.floor(cols / SB);
  const seed = inp.seedWeight !== undefined;
  const actPower = new Float64Array(nSb);
  const mse = new Float64Array(nSb);
  let rowsUsed = 0;
  let note: string | null = nSb === 0 ? `no full 256-column super-block in a ${cols}-column row` : null;
  for (let b = 0; b < nSb; b++) {
    let s = 0, n = 0;
    for (let c = b * SB; c < (b + 1) * SB; c++) { s += power.meanSquare[c]! * power.count[c]!; n += power.count[c]!; }
    actPower[b] = n > 0 ? s / n : NaN;
  }
  if (seed) {
    const W = inp.seedWeight!;
    rowsUsed = Math.min(W.rows, SEED_ROWS);
    for (let b = 0; b < nSb; b++) mse[b] = seedSection9BlockMse(W.data, W.cols, rowsUsed, b);
  } else {
    const we = inp.error!;
    rowsUsed = we.rows;
    if (we.failure) {
      note = `quantization error not measured: ${we.failure}`;
      mse.fill(NaN);
    } else {
      for (let b = 0; b < nSb; b++) {
        let s = 0, n = 0;
        for (let c = b * SB; c < Math.min((b + 1) * SB, we.usableCols); c++) { s += we.colSse[c]!; n += we.colCount[c]!; }
        mse[b] = n > 0 ? s / n : NaN;
      }
    }
  }
  const contrib = actPower.map((p, b) => p * mse[b]!);
  // Correlation over blocks with real power: the study demanded > 10 blocks (defect 29); we compute it whenever defined.
  const xs: number[] = [], ys: number[] = [];
  for (let b = 0; b < nSb; b++) if (actPower[b]! > 1e-10 && mse[b] === mse[b]) { xs.push(Math.sqrt(actPower[b]!)); ys.push(Math.sqrt(mse[b]!)); }
  const correlation = seed ? (xs.length > 10 ? pearson(xs, ys) : 0) : pearson(xs, ys);
  // Defect 30: average per-element products E[x_d²]·mse_d rather than multiplying block means.
  let mep: number | null = null;
  if (!seed && inp.error && !inp.error.failure) {
    const we = inp.error;
    let s = 0, k = 0;
    for (let c = 0; c < Math.min(nSb * SB, we.usableCols); c++) {
      if (we.colCount[c]! > 0 && power.count[c]! > 0) { s += power.meanSquare[c]! * (we.colSse[c]! / we.colCount[c]!); k++; }
    }
    mep = k ? s / k : null;
  }
  const top: SuperBlockRow[] = topIndices(contrib, 5).map((b) => ({
    index: b, startCol: b * SB, endCol: (b + 1) * SB - 1, actPower: actPower[b]!, weightMse: mse[b]!, contrib: contrib[b]!,
  }));
  return {
    name: inp.name,
    activation: inp.activation,
    superBlocks: nSb,
    tailColumns: cols - nSb * SB,
    rowsUsed,
    actPower: summarize(actPower),
    weightMse: summarize(mse),
    correlation: correlation === null ? null : nn(correlation),
    top,
    meanElementProduct: mep,
    note,
  };
}
