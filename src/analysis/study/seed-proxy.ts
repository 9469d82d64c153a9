// The original study's 2-bit proxies with its exact arithmetic, for
// --seed-compat only: float32 values and intermediates (numpy scalar
// promotion), round half to even, its `gr < 1e-10` skips and its float32
// running sums (defect 13). The default mode never uses these; it goes
// through ../group-quantizer.ts.
import { f32, roundHalfEven } from "../../stats/float32.js";

const GS = 16;
const EPS32 = f32(1e-10);

function clamp03(x: number): number {
  // Python: max(0, min(3, int(round(x)))); int() of NaN would raise (defect 15), we clamp to 0.
  if (x !== x) return 0;
  const q = roundHalfEven(x);
  return q < 0 ? 0 : q > 3 ? 3 : q;
}

function groupMinMax(data: Float32Array, a: number, b: number): [number, number] {
  let mn = Infinity, mx = -Infinity;
  for (let i = a; i < b; i++) {
    const x = data[i]!;
    if (x < mn || x !== x) mn = x;
    if (x > mx || x !== x) mx = x;
  }
  return [mn, mx];
}

/**
 * Section 3's two models over rows [0, nr): "no offset" (scale = max/3, levels
 * {0..3}·scale: unsigned, defect 6) and "with offset" (min + {0..3}·(max−min)/3,
 * min not clamped, defect 7). Returns the float32 running sums of squared error.
 */
export function seedSection3Mse(data: Float32Array, cols: number, nr: number): { mseNo: number; mseWith: number } {
  let mseNo = 0, mseWith = 0;
  for (let r = 0; r < nr; r++) {
    const o = r * cols;
    for (let g = 0; g < cols; g += GS) {
      const a = o + g, b = o + Math.min(g + GS, cols);
      const [gmin, gmax] = groupMinMax(data, a, b);
      const gr = f32(gmax - gmin);
      if (gr < 1e-10) continue;
      const scaleNo = f32(gmax / 3);
      const scaleW = f32(gr / 3);
      const dNo = f32(scaleNo + EPS32);
      const dW = f32(scaleW + EPS32);
      for (let i = a; i < b; i++) {
        const v = data[i]!;
        const idxNo = clamp03(f32(v / dNo));
        const eNo = f32(v - f32(scaleNo * idxNo));
        mseNo = f32(mseNo + f32(eNo * eNo));
        const idxW = clamp03(f32(f32(v - gmin) / dW));
        const eW = f32(v - f32(gmin + f32(scaleW * idxW)));
        mseWith = f32(mseWith + f32(eW * eW));
      }
    }
  }
  return { mseNo, mseWith };
}

/** One element's squared error under the study's section 6/9 model (min clamped ≤ 0, no epsilon). */
function clampedModel(data: Float32Array, a: number, b: number, each: (i: number, e2: number) => void): boolean {
  const [mn, gmax] = groupMinMax(data, a, b);
  const gmin = mn < 0 ? mn : 0; // Python min(g.min(), 0)
  const gr = f32(gmax - gmin);
  if (gr < 1e-10) return false;
  const scale = f32(gr / 3);
  for (let i = a; i < b; i++) {
    const v = data[i]!;
    const idx = clamp03(f32(f32(v - gmin) / scale));
    const e = f32(v - f32(gmin + f32(scale * idx)));
    each(i - a, f32(e * e));
  }
  return true;
}

/** Section 6: per-column sum of squared error over rows [0, nr) (float64 accumulator, as dim_mse = np.zeros(nc)). */
export function seedSection6DimMse(data: Float32Array, cols: number, nr: number): Float64Array {
  const dimMse = new Float64Array(cols);
  for (let g = 0; g < cols; g += GS) {
    const gEnd = Math.min(g + GS, cols);
    for (let r = 0; r < nr; r++) {
      const o = r * cols;
      clampedModel(data, o + g, o + gEnd, (i, e2) => { dimMse[g + i] += e2; });
    }
  }
  return dimMse;
}

/** Section 9: float32 running mean squared error of super-block sb over rows [0, nr) (count per element). */
export function seedSection9BlockMse(data: Float32Array, cols: number, nr: number, sb: number): number {
  const s = sb * 256;
  let mse = 0, count = 0;
  for (let r = 0; r < nr; r++) {
    const o = r * cols;
    for (let g = 0; g < 256; g += GS) {
      clampedModel(data, o + s + g, o + s + g + GS, (_i, e2) => { mse = f32(mse + e2); count++; });
    }
  }
  return mse / Math.max(count, 1);
}
