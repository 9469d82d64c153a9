// Sections 1 and 4: the global distribution of one tensor (weights in 1,
// activations in 4). Moments in f64 over finite values, exact percentiles by
// radix selection (no sort, no copy).
import type { Matrix } from "../../io/f32bin.js";
import type { DistributionStats } from "./types.js";
import { moments } from "../../stats/moments.js";
import { percentilesF32 } from "../../stats/select.js";
import { nn } from "./common.js";

export const PERCENTILES = [0.1, 1, 5, 25, 50, 75, 95, 99, 99.9] as const;

export function distributionStats(name: string, file: string, description: string, m: Matrix): DistributionStats {
  const mo = moments(m.data);
  const n = mo.n;
  const pct = percentilesF32(m.data, [...PERCENTILES], n);
  // numpy's study adds 1e-10 to std in the ratios; in f64 that changes nothing measurable.
  let nearZero = 0;
  if (n > 0) {
    const thr = 0.001 * mo.std;
    const d = m.data;
    for (let i = 0; i < d.length; i++) {
      const x = d[i]!;
      if (x < thr && x > -thr) nearZero++;
    }
  }
  return {
    name,
    file,
    description,
    rows: m.rows,
    cols: m.cols,
    n,
    nonFinite: mo.nonFinite,
    mean: nn(mo.mean),
    std: nn(mo.std),
    min: nn(mo.min),
    max: nn(mo.max),
    median: nn(pct[4]!),
    meanOverStd: nn(Math.abs(mo.mean) / (mo.std + 1e-10)),
    skewness: nn(mo.std > 0 ? mo.skewness : 0),
    excessKurtosis: nn(mo.std > 0 ? mo.excessKurtosis : -3),
    percentiles: PERCENTILES.map((p, i) => ({ p, value: nn(pct[i]!) })),
    nearZeroFraction: n > 0 ? nearZero / n : null,
  };
}
