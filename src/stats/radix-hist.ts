// Building blocks of the two-pass exact percentile (see select.ts) for fused
// kernels that walk the data themselves: pass A fills `hist` with the high 16
// bits of each value's sort key, `prepare` picks the wanted buckets, pass B
// counts low bits of values in those buckets, `finish` reads the order statistics.

/** float32 bits -> unsigned key with the float order. */
export function sortKey(bits: number): number {
  return (bits ^ (-(bits >>> 31) | 0x80000000)) >>> 0;
}

export interface RadixPlan {
  readonly n: number;
  readonly ps: readonly number[];
  readonly ranks: number[];
  readonly bucketOf: number[];
  readonly within: number[];
  /** high bucket -> slot in `lo`, or -1. */
  readonly slot: Int32Array;
  /** slot*65536 + low 16 bits -> count. */
  readonly lo: Uint32Array;
}

/**
 * prepare(): also resolves counts below the given keys exactly (see countBelow). makeLo
 * provides the zeroed `lo` table (e.g. inside a WASM kernel's memory).
 */
export function prepare(
  hist: Uint32Array, n: number, ps: readonly number[], extraKeys: readonly number[] = [],
  makeLo: (length: number) => Uint32Array = (length) => new Uint32Array(length),
): RadixPlan {
  const pos = ps.map((p) => (p / 100) * (n - 1));
  const set = new Set<number>();
  for (const x of pos) { set.add(Math.floor(x)); set.add(Math.min(n - 1, Math.ceil(x))); }
  const ranks = [...set].sort((a, b) => a - b);
  const slot = new Int32Array(65536).fill(-1);
  const bucketOf: number[] = [], within: number[] = [];
  let slots = 0;
  for (const rk of ranks) {
    let acc = 0, b = 0;
    for (; b < 65536; b++) { if (acc + hist[b]! > rk) break; acc += hist[b]!; }
    bucketOf.push(b); within.push(rk - acc);
    if (slot[b] === -1) slot[b] = slots++;
  }
  for (const k of extraKeys) if (slot[k >>> 16] === -1) slot[k >>> 16] = slots++;
  return { n, ps, ranks, bucketOf, within, slot, lo: makeLo(slots * 65536) };
}

/** Pass B over float32 bit patterns u[0..n): counts the low key bits of values in the wanted buckets. */
export function countLow(plan: RadixPlan, u: Uint32Array, n: number): void {
  const { slot, lo } = plan;
  for (let i = 0; i < n; i++) {
    const key = sortKey(u[i]!), s = slot[key >>> 16]!;
    if (s >= 0) lo[s * 65536 + (key & 0xffff)]!++;
  }
}

/** Percentiles (numpy linear) once pass B has filled plan.lo. */
export function finish(plan: RadixPlan): number[] {
  const { n, ranks, bucketOf, within, slot, lo } = plan;
  if (n === 0) return plan.ps.map(() => NaN);
  const vals = ranks.map((_, j) => {
    const base = slot[bucketOf[j]!]! * 65536;
    let acc = 0, l = 0;
    for (; l < 65536; l++) { acc += lo[base + l]!; if (acc > within[j]!) break; }
    const key = ((bucketOf[j]! << 16) | l) >>> 0;
    const bits = key & 0x80000000 ? key ^ 0x80000000 : ~key;
    return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0]!;
  });
  const at = new Map(ranks.map((rk, i) => [rk, vals[i]!]));
  return plan.ps.map((p) => {
    const x = (p / 100) * (n - 1);
    const l = Math.floor(x), h = Math.min(n - 1, Math.ceil(x)), t = x - l, a = at.get(l)!, b = at.get(h)!;
    return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
  });
}

/** Number of values whose key is < key (key must have been passed to prepare as an extra key). */
export function countBelow(plan: RadixPlan, hist: Uint32Array, key: number): number {
  const hi = key >>> 16;
  let c = 0;
  for (let b = 0; b < hi; b++) c += hist[b]!;
  const base = plan.slot[hi]! * 65536;
  for (let l = 0; l < (key & 0xffff); l++) c += plan.lo[base + l]!;
  return c;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Keys bounding |x| < thr for float32 x: count = countBelow(hiKey) − countBelow(loKey). */
export function absBelowKeys(thr: number): { loKey: number; hiKey: number } | null {
  if (!(thr > 0) || !Number.isFinite(thr)) return null;
  // v = smallest float32 >= thr; x < thr  <=>  x < v;  x <= -thr  <=>  x <= -v  <=>  key(x) < key(-v) + 1
  f32buf[0] = thr;
  if (f32buf[0]! < thr) u32buf[0] = u32buf[0]! + 1;
  const hiKey = sortKey(u32buf[0]!);
  f32buf[0] = -f32buf[0]!;
  const loKey = sortKey(u32buf[0]!) + 1;
  return { loKey, hiKey };
}
