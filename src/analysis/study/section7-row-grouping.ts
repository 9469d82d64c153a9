// Section 7: grouping along the row (the inner dimension) and what Q2_K's
// per-super-block metadata costs for this row length.
import type { Matrix } from "../../io/f32bin.js";
import type { RowGrouping } from "./types.js";
import { nn } from "./common.js";

const GS = 16;
const SB = 256;
/** Q2_K super-block: 16 bytes of 4-bit scale/min pairs + fp16 d + fp16 dmin = 20 bytes of metadata, 64 bytes of 2-bit quants. */
const Q2K_META_BYTES = 20;
const Q2K_BLOCK_BYTES = 84;

export interface RowGroupingOptions {
  readonly rowLimit: number | null;
  /** Study arithmetic: short last group kept, absolute ±0.001 sign threshold. */
  readonly seed: boolean;
  /** Tensor std (default-mode threshold = 0.1 × std / 4, a tenth of a zero-mean group mean's typical size). */
  readonly tensorStd: number | null;
}

export function rowGrouping(name: string, m: Matrix, opt: RowGroupingOptions): RowGrouping {
  const { cols, data } = m;
  const nr = opt.rowLimit === null ? m.rows : Math.min(m.rows, opt.rowLimit);
  const nSb = Math.floor(cols / SB);
  const span = opt.seed ? cols : cols - (cols % GS);
  const threshold = opt.seed ? 0.001 : 0.1 * (opt.tensorStd ?? 0) / Math.sqrt(GS);
  let pos = 0, neg = 0, total = 0, stdSum = 0, stdRows = 0;
  const means: number[] = [];
  for (let r = 0; r < nr; r++) {
    const o = r * cols;
    means.length = 0;
    for (let g = 0; g < span; g += GS) {
      const b = Math.min(g + GS, span);
      let s = 0, n = 0;
      for (let i = o + g; i < o + b; i++) { const x = data[i]!; if (x - x === 0) { s += x; n++; } }
      if (n === 0) continue;
      const gm = s / n;
      means.push(gm);
      if (gm > threshold) pos++;
      else if (gm < -threshold) neg++;
      total++;
    }
    if (means.length === 0) continue;
    let mu = 0;
    for (const x of means) mu += x;
    mu /= means.length;
    let v = 0;
    for (const x of means) v += (x - mu) * (x - mu);
    stdSum += Math.sqrt(v / means.length);
    stdRows++;
  }
  return rowGroupingFromSums(name, cols, nr, stdSum, stdRows, pos, neg, total, threshold);
}

/** Section 7's result from its running sums (shared with the fused fast path). */
export function rowGroupingFromSums(
  name: string, cols: number, nr: number, stdSum: number, stdRows: number, pos: number, neg: number, total: number, threshold: number,
): RowGrouping {
  const nSb = Math.floor(cols / SB);
  const meta = nSb * Q2K_META_BYTES;
  return {
    name,
    cols,
    superBlocksPerRow: nSb,
    superBlockTail: cols - nSb * SB,
    groupsPerRow: Math.floor(cols / GS),
    studyMetadataBytesPerRow: nSb * 2,
    q2kMetadataBytesPerRow: meta,
    q2kBitsPerWeight: nSb > 0 ? (nSb * Q2K_BLOCK_BYTES * 8) / (nSb * SB) : null,
    q2kMetadataSharePct: nSb > 0 ? (Q2K_META_BYTES / Q2K_BLOCK_BYTES) * 100 : null,
    rowsUsed: nr,
    intraRowGroupMeanStd: stdRows ? stdSum / stdRows : null,
    groupMeanSign: {
      threshold,
      positivePct: total ? nn((pos / total) * 100) : null,
      negativePct: total ? nn((neg / total) * 100) : null,
      nearZeroPct: total ? nn((1 - pos / total - neg / total) * 100) : null,
    },
  };
}
