// Numeric helpers of the sweep: order statistics by selection, seeded row
// sampling, ratio estimators with 95 % confidence intervals.

/** k-th smallest (0-based) of a, by in-place quickselect (a is reordered). */
export function selectKth(a: Float32Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    // median of three as pivot keeps sorted / constant inputs linear-ish
    const mid = (lo + hi) >>> 1;
    let x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) { x = a[i]!; a[i] = a[j]!; a[j] = x; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/**
 * Several order statistics at once (indices in any order): ascending
 * selections, each on the part right of the previous one. Reorders `a`.
 */
export function selectMany(a: Float32Array, indices: readonly number[]): number[] {
  const order = indices.map((k, i) => [k, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(indices.length);
  let base = 0;
  for (const [k, i] of order) {
    if (k < base) { out[i] = a[k]!; continue; } // duplicate index: already in place
    out[i] = selectKth(a.subarray(base), k - base);
    base = k + 1;
  }
  return out;
}

/** Nearest-rank quantile index: the ceil(q·n)-th smallest value (1-based), as a 0-based index. */
export function quantileIndex(n: number, q: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
}

/** Median (lower, nearest rank) and 95th percentile of |values|; `abs` is clobbered. */
export function medianAndP95(abs: Float32Array): { median: number; p95: number } {
  const n = abs.length;
  if (n === 0) return { median: NaN, p95: NaN };
  const iP95 = quantileIndex(n, 0.95);
  const p95 = selectKth(abs, iP95);
  // After selecting iP95, everything left of it is <= p95: select the median there.
  const iMed = quantileIndex(n, 0.5);
  const median = iMed <= iP95 ? selectKth(abs.subarray(0, iP95 + 1), iMed) : p95;
  return { median, p95 };
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded simple random sample of ceil(fraction·n) distinct indices of 0..n-1, sorted. */
export function sampleRows(n: number, fraction: number, seed: number): Int32Array {
  const k = Math.min(n, Math.max(2, Math.ceil(fraction * n)));
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const r = rng(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(r() * (n - i));
    const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t;
  }
  return idx.slice(0, k).sort();
}

/**
 * Ratio estimator Σa/Σb over sampled rows with its 95 % CI (delta method,
 * with finite-population correction for sampling k of N rows without
 * replacement). With k = N the interval collapses to the value.
 */
export function ratioCi(a: Float64Array, b: Float64Array, N: number): { value: number; lo: number; hi: number } {
  const k = a.length;
  let sa = 0, sb = 0;
  for (let i = 0; i < k; i++) { sa += a[i]!; sb += b[i]!; }
  const R = sb > 0 ? sa / sb : NaN;
  if (k >= N || k < 2 || !(sb > 0)) return { value: R, lo: R, hi: R };
  const mb = sb / k;
  let v = 0;
  for (let i = 0; i < k; i++) { const d = a[i]! - R * b[i]!; v += d * d; }
  v /= k - 1;
  const se = Math.sqrt(((1 - k / N) * v) / k) / mb;
  return { value: R, lo: Math.max(0, R - 1.96 * se), hi: R + 1.96 * se };
}

/** Mean of a over sampled rows with its 95 % CI (same conventions as ratioCi). */
export function meanCi(a: Float64Array, N: number): { value: number; lo: number; hi: number } {
  const ones = new Float64Array(a.length).fill(1);
  return ratioCi(a, ones, N);
}

/**
 * Order-statistic indices of the 95 % CI for a quantile from a sample of n
 * values (binomial interval). Elements of a row are not independent, so this is
 * optimistic for strongly row-structured errors.
 */
export function quantileCiIndices(n: number, q: number): [number, number] {
  const half = 1.96 * Math.sqrt(n * q * (1 - q));
  return [Math.max(0, Math.floor(q * n - half) - 1), Math.min(n - 1, Math.ceil(q * n + half))];
}

/**
 * The quantile as llama.cpp's test-quantize-stats reports it: |diff| in a
 * 150-bucket histogram over [0, 0.03) (last bucket open-ended), and the upper
 * edge of the first bucket where the cumulative count reaches q·n.
 */
export function histogramQuantile(diff: Float32Array, q: number, buckets = 150, range = 0.03): number {
  const width = range / buckets;
  const h = new Float64Array(buckets);
  for (let i = 0; i < diff.length; i++) h[Math.min(Math.floor(Math.abs(diff[i]!) / width), buckets - 1)]++;
  let acc = 0;
  for (let i = 0; i < buckets; i++) {
    acc += h[i]!;
    if (acc >= diff.length * q) return (i + 1) * width;
  }
  return Infinity;
}

const HIST = new Uint32Array(65536);
const SLOT = new Int32Array(65536).fill(-1);

/**
 * Order statistics (0-based ranks) of non-negative float32 values in two
 * passes: a histogram of the top 16 bits (for non-negative floats the bit
 * pattern orders like the value), then a selection inside the few buckets
 * that hold the wanted ranks. Leaves `a` untouched.
 */
export function ranksOfNonNegative(a: Float32Array, ranks: readonly number[]): number[] {
  const n = a.length;
  if (n === 0) return ranks.map(() => NaN);
  const bits = new Uint32Array(a.buffer, a.byteOffset, n);
  const hist = HIST; // all zero between calls (reset below in O(n))
  for (let i = 0; i < n; i++) hist[bits[i]! >>> 16]++;
  // bucket of each rank and the rank's position inside it: one scan for all ranks, in order
  const order = ranks.map((r, i) => [r, i] as const).sort((x, y) => x[0] - y[0]);
  const where = new Array<{ b: number; k: number }>(ranks.length);
  let acc = 0, b = 0;
  for (const [r, i] of order) {
    while (b < 65535 && acc + hist[b]! <= r) { acc += hist[b]!; b++; }
    where[i] = { b, k: r - acc };
  }
  const slot = SLOT; // all -1 between calls
  const store: Float32Array[] = [];
  for (const { b } of where) if (slot[b]! < 0) { slot[b] = store.length; store.push(new Float32Array(hist[b]!)); }
  const fill = new Int32Array(store.length);
  for (let i = 0; i < n; i++) {
    const s = slot[bits[i]! >>> 16]!;
    if (s >= 0) store[s]![fill[s]!++] = a[i]!;
  }
  const out = where.map(({ b, k }) => selectKth(store[slot[b]!]!, k));
  for (let i = 0; i < n; i++) hist[bits[i]! >>> 16] = 0;
  for (const { b } of where) slot[b] = -1;
  return out;
}
