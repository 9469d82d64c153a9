// Section 3: 16-element group statistics (how much each group needs its own
// offset) and 2-bit quantization error with and without a per-group offset.
import type { Matrix } from "../../io/f32bin.js";
import type { GroupStats, Summary } from "./types.js";
import { percentilesF32, percentilesSmall } from "../../stats/select.js";
import { round03 } from "../../stats/float32.js";
import { nn } from "./common.js";
import { seedSection3Mse } from "./seed-proxy.js";

export const GROUP_SIZE = 16;
const THRESHOLDS = [0.1, 0.2, 0.3] as const;

/** Streaming mean / population std / min / max in f64. */
class Acc {
  n = 0; s = 0; s2 = 0; min = Infinity; max = -Infinity;
  add(x: number): void {
    this.n++; this.s += x; this.s2 += x * x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }
  summary(): Summary {
    if (this.n === 0) return { mean: null, std: null, min: null, max: null };
    const mean = this.s / this.n;
    return { mean, std: Math.sqrt(Math.max(0, this.s2 / this.n - mean * mean)), min: this.min, max: this.max };
  }
}

export interface GroupSectionOptions {
  /** Rows to use (null = all). */
  readonly rowLimit: number | null;
  /** Study arithmetic: short tail group, its unsigned/unclamped proxies and float32 sums. */
  readonly seed: boolean;
  /** RMSE of the selected group quantizer over the same rows (computed by weight-error.ts), or null with a reason. */
  readonly quantRmse: number | null;
  readonly quantNote: string | null;
}

/** Section 3 for one weight. */
export function groupStats(name: string, m: Matrix, opt: GroupSectionOptions): GroupStats {
  const { cols, data } = m;
  const nr = opt.rowLimit === null ? m.rows : Math.min(m.rows, opt.rowLimit);
  const tail = cols % GROUP_SIZE;
  const span = opt.seed ? cols : cols - tail; // the study keeps a short last group
  const perRow = Math.ceil(span / GROUP_SIZE);
  const nGroups = nr * perRow;
  const offsets = new Float32Array(nGroups);
  const gMean = new Acc(), gStd = new Acc(), gRange = new Acc();
  let k = 0;
  let mseNo = 0, mseWith = 0, nq = 0;
  for (let r = 0; r < nr; r++) {
    const o = r * cols;
    for (let g = 0; g < span; g += GROUP_SIZE) {
      const a = o + g, b = o + Math.min(g + GROUP_SIZE, span);
      let n = 0, s = 0, mn = Infinity, mx = -Infinity, amax = 0;
      for (let i = a; i < b; i++) {
        const x = data[i]!;
        if (x - x !== 0) continue;
        n++; s += x;
        if (x < mn) mn = x;
        if (x > mx) mx = x;
        const ax = x < 0 ? -x : x;
        if (ax > amax) amax = ax;
      }
      if (n === 0) { offsets[k++] = NaN; continue; }
      const mean = s / n;
      let s2 = 0;
      for (let i = a; i < b; i++) { const x = data[i]!; if (x - x === 0) s2 += (x - mean) * (x - mean); }
      const range = mx - mn;
      gMean.add(mean); gStd.add(Math.sqrt(s2 / n)); gRange.add(range);
      offsets[k++] = range > 1e-10 ? Math.abs(mean) / range : 0;
      if (opt.seed) continue;
      // Default models (defects 6, 7 fixed): no offset = symmetric levels (q−1.5)·d, d = max|x|/1.5;
      // with offset = min + q·(max−min)/3 (true min). Both take the nearest level.
      const dNo = amax / 1.5, dW = range / 3;
      for (let i = a; i < b; i++) {
        const x = data[i]!;
        if (x - x !== 0) continue;
        nq++;
        if (dNo > 0) {
          const q = round03(x / dNo + 1.5);
          const e = x - (q - 1.5) * dNo; mseNo += e * e;
        }
        if (dW > 0) {
          const q = round03((x - mn) / dW);
          const e = x - (mn + q * dW); mseWith += e * e;
        }
      }
    }
  }
  let rmseNo: number, rmseWith: number;
  if (opt.seed) {
    const s = seedSection3Mse(data, cols, nr);
    const total = nr * cols;
    rmseNo = Math.fround(Math.sqrt(Math.fround(s.mseNo / total)));
    rmseWith = Math.fround(Math.sqrt(Math.fround(s.mseWith / total)));
  } else {
    rmseNo = Math.sqrt(mseNo / nq);
    rmseWith = Math.sqrt(mseWith / nq);
  }
  const valid = offsets.subarray(0, k);
  let nOff = 0, sOff = 0, maxOff = -Infinity;
  const above = [0, 0, 0];
  for (let i = 0; i < valid.length; i++) {
    const x = valid[i]!;
    if (x !== x) continue;
    nOff++; sOff += x;
    if (x > maxOff) maxOff = x;
    for (let t = 0; t < THRESHOLDS.length; t++) if (x > THRESHOLDS[t]!) above[t]!++;
  }
  const [median, p90] = opt.seed ? percentilesSmall(valid, [50, 90]) : percentilesF32(valid, [50, 90], nOff);
  return {
    name,
    rowsUsed: nr,
    groups: gMean.n,
    tailColumns: tail,
    groupMean: gMean.summary(),
    groupStd: gStd.summary(),
    groupRange: gRange.summary(),
    offsetImportance: {
      mean: nOff ? sOff / nOff : null,
      median: nn(median!),
      p90: nn(p90!),
      max: nOff ? maxOff : null,
      above: THRESHOLDS.map((threshold, t) => ({ threshold, fraction: nOff ? above[t]! / nOff : null })),
    },
    rmseNoOffset: nn(rmseNo),
    rmseWithOffset: nn(rmseWith),
    offsetBenefitPct: rmseNo > 0 ? nn(((rmseNo - rmseWith) / rmseNo) * 100) : null,
    quantRmse: opt.quantRmse,
    quantNote: opt.quantNote,
  };
}
