// llama-imatrix --show-statistics, recomputed: per-tensor statistics of the
// mean squared activation per input column, and per-layer weighted averages.
// The arithmetic follows llama.cpp (commit 3f545becc) in float32, in the same
// order, so the printed numbers match its output digit for digit.
import type { Imatrix } from "../../io/source.js";
import { rawEntry } from "../../io/imatrix.js";

const f = Math.fround;
/** llama.cpp counts a column as active when |v| > 1e-5 (as a float). */
const ACTIVE_THRESHOLD = f(1e-5);

export interface ImatrixTensorStats {
  /** Full weight name, e.g. "blk.0.ffn_down.weight". */
  tensor: string;
  /** Block number as printed ("-" when the name has no blk.N). */
  layer: string;
  /** Short name as printed, e.g. "ffn_down". */
  shortName: string;
  sum: number;
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation, sqrt(E[v^2] - E[v]^2). */
  std: number;
  /** Fraction of columns with v > 1e-5. */
  active: number;
  /** Columns (N). */
  elements: number;
  /** -sum p log2 p with p = v / sum(v). */
  entropy: number;
  /** Entropy / log2(N), in percent. */
  entropyNorm: number;
  /** Fraction of columns whose z-score exceeds 1. */
  zd: number;
  /** Cosine between this tensor's raw sums and the same tensor one block earlier (0 if none). */
  cossim: number;
}

export interface ImatrixLayerStats {
  layer: number;
  /** Element-weighted mean of Σ(Act²). */
  meanSum: number;
  /** Element-weighted mean of ZD (fraction). */
  meanZd: number;
  meanCossim: number;
}

export interface ImatrixStatistics {
  /** Sorted as llama.cpp prints them: by short name, then decreasing Σ(Act²). */
  tensors: ImatrixTensorStats[];
  layers: ImatrixLayerStats[];
}

/** llama.cpp's process_tensor_name: layer after "blk", name before "weight". */
export function splitTensorName(name: string): { layer: string; shortName: string } {
  const parts = name.split(".");
  let layer = "";
  let shortName = "";
  for (let i = 0; i < parts.length; i++) if (parts[i] === "blk" && i + 1 < parts.length) { layer = parts[i + 1]!; break; }
  for (let i = 0; i < parts.length; i++) if (parts[i] === "weight" && i > 0) { shortName = parts[i - 1]!; break; }
  return { layer: layer || "-", shortName: shortName || name };
}

interface Work extends ImatrixTensorStats { raw: Float32Array; }

function tensorStats(name: string, raw: Float32Array, divisors: number[], values: Float32Array): Work | undefined {
  const row = raw.length / divisors.length;
  const acts: number[] = [];
  for (let m = 0; m < divisors.length; m++) {
    if (divisors[m] === 0) continue;
    for (let j = m * row; j < (m + 1) * row; j++) acts.push(values[j]!);
  }
  if (acts.length === 0) return undefined;
  const n = acts.length;
  let total = 0, sq = 0, max = -Infinity, min = Infinity, inactive = 0;
  for (const a of acts) {
    total = f(total + a);
    sq = f(sq + f(a * a));
    if (a > max) max = a;
    if (a < min) min = a;
    if (Math.abs(a) <= ACTIVE_THRESHOLD) inactive++;
  }
  const mean = f(total / n);
  const variance = f(f(sq / n) - f(mean * mean));
  const std = f(Math.sqrt(Math.max(0, variance)));
  const active = f(1 - f(inactive / n));
  let entropy = 0;
  if (total > 0) {
    for (const a of acts) {
      const p = f(a / total);
      if (p > 0) entropy = f(entropy - f(p * f(Math.log2(p))));
    }
  }
  let z = 0;
  if (std > 0) for (const a of acts) if (f(f(a - mean) / std) > 1) z++;
  const { layer, shortName } = splitTensorName(name);
  return {
    tensor: name, layer, shortName, sum: total, min, max, mean, std, active, elements: n, entropy,
    entropyNorm: f(100 * (entropy / Math.log2(n))), zd: f(z / n), cossim: 0, raw,
  };
}

function floatDot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = f(s + f(a[i]! * b[i]!));
  return s;
}

/** Computes the statistics llama-imatrix --show-statistics prints. */
export function imatrixStatistics(im: Imatrix): ImatrixStatistics {
  const work: Work[] = [];
  for (const e of im.entries.values()) {
    const r = rawEntry(e);
    const s = tensorStats(e.name, r.raw, r.divisors, e.values);
    if (s) work.push(s);
  }
  const byName = new Map(work.map((w) => [w.tensor, w]));
  for (const w of work) {
    const m = /blk\.(\d+)\./.exec(w.tensor);
    if (!m) continue;
    const prevName = w.tensor.slice(0, m.index + 4) + String(Number(m[1]) - 1) + w.tensor.slice(m.index + 4 + m[1]!.length);
    const prev = byName.get(prevName);
    if (!prev || prev.raw.length !== w.raw.length) continue;
    const dp = floatDot(w.raw, prev.raw);
    const cm = f(Math.sqrt(floatDot(w.raw, w.raw)));
    const pm = f(Math.sqrt(floatDot(prev.raw, prev.raw)));
    w.cossim = f(dp / f(cm * pm));
  }
  work.sort((a, b) => (a.shortName < b.shortName ? -1 : a.shortName > b.shortName ? 1 : b.sum - a.sum));

  const acc = new Map<number, { bias: number; zd: number; cos: number; n: number }>();
  for (const w of work) {
    const blk = /^\d+$/.test(w.layer) ? Number(w.layer) : -1;
    const a = acc.get(blk) ?? { bias: 0, zd: 0, cos: 0, n: 0 };
    a.bias = f(a.bias + f(w.elements * w.sum));
    a.zd = f(a.zd + f(w.elements * w.zd));
    a.cos = f(a.cos + f(w.elements * w.cossim));
    a.n += w.elements;
    acc.set(blk, a);
  }
  const layers: ImatrixLayerStats[] = [...acc.entries()]
    .filter(([l, a]) => l >= 0 && a.n > 0)
    .sort((x, y) => x[0] - y[0])
    .map(([layer, a]) => ({ layer, meanSum: f(a.bias / a.n), meanZd: f(a.zd / a.n), meanCossim: f(a.cos / a.n) }));
  const tensors = work.map(({ raw: _raw, ...rest }) => rest);
  return { tensors, layers };
}
