// One quantize→dequantize pass of a weight through the selected group
// quantizer, reduced to per-column squared-error sums. Sections 3 (overall
// RMSE), 6 (per-column RMSE) and 9 (per-super-block MSE) all read this, so a
// weight is quantized once, in row chunks (bounded memory).
import type { Matrix } from "../../io/f32bin.js";
import type { RowChunks } from "./row-chunks.js";
import type { GroupQuantizer } from "./group-quantizer.js";
import { isQuantscopeError } from "../../io/errors.js";

export interface WeightError {
  /** Columns covered (row length rounded down to the quantizer's block). */
  readonly usableCols: number;
  /** Sum over rows of squared reconstruction error, per column (finite weights only). */
  readonly colSse: Float64Array;
  /** Finite weights per column. */
  readonly colCount: Float64Array;
  /** Rows quantized. */
  readonly rows: number;
  /** Why the error could not be measured (null when it was). */
  readonly failure: string | null;
}

const CHUNK_ELEMS = 1 << 20;

export function weightError(m: Matrix, q: GroupQuantizer, rowLimit: number | null = null): WeightError {
  const { cols, data } = m;
  const rows = rowLimit === null ? m.rows : Math.min(m.rows, rowLimit);
  const use = q.usableCols(cols);
  const colSse = new Float64Array(use);
  const colCount = new Float64Array(use);
  if (use === 0) {
    return { usableCols: 0, colSse, colCount, rows, failure: `row length ${cols} is shorter than one ${q.info.name} block (${q.info.blockSize})` };
  }
  const chunkRows = Math.max(1, Math.floor(CHUNK_ELEMS / cols));
  const out = new Float32Array(Math.min(rows, chunkRows) * use);
  try {
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const nr = Math.min(chunkRows, rows - r0);
      q.roundTrip(data, cols, r0, nr, out);
      for (let r = 0; r < nr; r++) {
        const so = (r0 + r) * cols, oo = r * use;
        for (let c = 0; c < use; c++) {
          const x = data[so + c]!;
          if (x - x !== 0) continue;
          const e = x - out[oo + c]!;
          colSse[c] += e * e;
          colCount[c]++;
        }
      }
    }
  } catch (e) {
    if (!isQuantscopeError(e)) throw e;
    return { usableCols: use, colSse: colSse.fill(0), colCount: colCount.fill(0), rows, failure: e.message };
  }
  return { usableCols: use, colSse, colCount, rows, failure: null };
}

/** The same over a streamed weight (row chunks), for real codecs on big tensors. */
export function weightErrorChunks(src: RowChunks, q: GroupQuantizer): WeightError {
  const { rows, cols } = src;
  const use = q.usableCols(cols);
  const colSse = new Float64Array(use);
  const colCount = new Float64Array(use);
  if (use === 0) {
    return { usableCols: 0, colSse, colCount, rows, failure: `row length ${cols} is shorter than one ${q.info.name} block (${q.info.blockSize})` };
  }
  let failure: string | null = null;
  for (const { data, nRows } of src.chunks()) {
    const part = weightError({ rows: nRows, cols, data }, q);
    if (part.failure) { failure = part.failure; break; }
    for (let c = 0; c < use; c++) { colSse[c] += part.colSse[c]!; colCount[c] += part.colCount[c]!; }
  }
  if (failure) return { usableCols: use, colSse: colSse.fill(0), colCount: colCount.fill(0), rows, failure };
  return { usableCols: use, colSse, colCount, rows, failure: null };
}

/** RMSE over every measured weight, or null. */
export function overallRmse(we: WeightError): number | null {
  if (we.failure) return null;
  let s = 0, n = 0;
  for (let c = 0; c < we.usableCols; c++) { s += we.colSse[c]!; n += we.colCount[c]!; }
  return n > 0 ? Math.sqrt(s / n) : null;
}
