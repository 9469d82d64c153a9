// Index orderings of small arrays (per-dimension series, a few thousand long).

/** Indices of the k largest values, descending (NaN never selected). */
export function topIndices(a: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] === a[i]) idx.push(i);
  idx.sort((i, j) => a[j]! - a[i]! || i - j);
  return idx.slice(0, k);
}

/** Indices of the k smallest values, ascending (NaN never selected). */
export function bottomIndices(a: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] === a[i]) idx.push(i);
  idx.sort((i, j) => a[i]! - a[j]! || i - j);
  return idx.slice(0, k);
}

/** Share (%) of sum(a) held by the largest `count` values; NaN when the sum is 0. */
export function topShare(a: ArrayLike<number>, count: number): number {
  const v = Float64Array.from(a as ArrayLike<number>).filter((x) => x === x).sort().reverse();
  let total = 0;
  for (let i = 0; i < v.length; i++) total += v[i]!;
  let top = 0;
  for (let i = 0; i < Math.min(count, v.length); i++) top += v[i]!;
  return total > 0 ? (top / total) * 100 : NaN;
}
