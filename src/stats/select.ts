// Exact order statistics of a float32 series without sorting it: a two-level
// radix select on the float's bit pattern (16 high bits, then 16 low bits of
// the few buckets that hold a wanted rank). Two passes, O(n), and only
// 256 KiB of counters per wanted bucket, so it works on 25M-value tensors
// without copying them. Non-finite values are skipped.

const HI = 65536;

/** Maps float32 bits to a uint32 whose unsigned order is the float order. */
function sortKey(u: number): number {
  return (u ^ (-(u >>> 31) | 0x80000000)) >>> 0;
}

function keyToFloat(key: number): number {
  const u = key & 0x80000000 ? key ^ 0x80000000 : ~key;
  const b = new Uint32Array([u >>> 0]);
  return new Float32Array(b.buffer)[0]!;
}

/** Values at the given 0-based ranks (each < count of finite values) among the finite values of data. */
export function valuesAtRanks(data: Float32Array, ranks: readonly number[]): number[] {
  if (ranks.length === 0) return [];
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const hist = new Uint32Array(HI);
  for (let i = 0; i < u.length; i++) {
    const b = u[i]!;
    if ((b & 0x7f800000) === 0x7f800000) continue; // NaN / Inf
    hist[sortKey(b) >>> 16]!++;
  }
  // Locate each rank's high bucket and its rank within the bucket.
  const bucketOf: number[] = [];
  const within: number[] = [];
  const slot = new Int32Array(HI).fill(-1);
  const wanted: number[] = [];
  for (const r of ranks) {
    let acc = 0, b = 0;
    for (; b < HI; b++) {
      const c = hist[b]!;
      if (acc + c > r) break;
      acc += c;
    }
    if (b === HI) throw new RangeError(`rank ${r} out of range`);
    bucketOf.push(b);
    within.push(r - acc);
    if (slot[b] === -1) { slot[b] = wanted.length; wanted.push(b); }
  }
  const lo = wanted.map(() => new Uint32Array(HI));
  for (let i = 0; i < u.length; i++) {
    const b = u[i]!;
    if ((b & 0x7f800000) === 0x7f800000) continue;
    const k = sortKey(b);
    const s = slot[k >>> 16]!;
    if (s >= 0) lo[s]![k & 0xffff]!++;
  }
  return ranks.map((_, j) => {
    const h = lo[slot[bucketOf[j]!]!]!;
    let acc = 0, l = 0;
    for (; l < HI; l++) {
      acc += h[l]!;
      if (acc > within[j]!) break;
    }
    return keyToFloat(((bucketOf[j]! << 16) | l) >>> 0);
  });
}

/** numpy's default (linear) interpolation between order statistics, t in [0,1). */
function lerp(a: number, b: number, t: number): number {
  const d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/**
 * Percentiles (p in 0..100) of the n finite values of data, numpy's "linear" method.
 * Returns NaN for each p when there are no finite values.
 */
export function percentilesF32(data: Float32Array, ps: readonly number[], n: number): number[] {
  if (n === 0) return ps.map(() => NaN);
  const pos = ps.map((p) => (p / 100) * (n - 1));
  const ranks = new Set<number>();
  for (const x of pos) { ranks.add(Math.floor(x)); ranks.add(Math.min(n - 1, Math.ceil(x))); }
  const list = [...ranks].sort((a, b) => a - b);
  const vals = valuesAtRanks(data, list);
  const at = new Map(list.map((r, i) => [r, vals[i]!]));
  return pos.map((x) => {
    const lo = Math.floor(x);
    const hi = Math.min(n - 1, Math.ceil(x));
    return lerp(at.get(lo)!, at.get(hi)!, x - lo);
  });
}

/** Percentiles of a small f64 array by sorting a copy (NaN skipped). */
export function percentilesSmall(a: ArrayLike<number>, ps: readonly number[]): number[] {
  const v = Float64Array.from(Array.prototype.filter.call(a, (x: number) => x === x) as number[]).sort();
  const n = v.length;
  if (n === 0) return ps.map(() => NaN);
  return ps.map((p) => {
    const x = (p / 100) * (n - 1);
    const lo = Math.floor(x);
    const hi = Math.min(n - 1, Math.ceil(x));
    return lerp(v[lo]!, v[hi]!, x - lo);
  });
}
