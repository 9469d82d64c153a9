// float32 emulation helpers for reproducing numpy's float32 arithmetic
// (seed-compat) and a few IEEE facts shared by the kernels.

export const f32 = Math.fround;

/** Round half to even, as numpy's round (and Python 3's round) do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** True for a finite float (not NaN, not ±Infinity). */
export function isFiniteNumber(x: number): boolean {
  return x - x === 0;
}

/** Nearest of the levels 0..3 for t (ties upward; NaN -> 0). Small enough for V8 to inline in hot loops. */
export function round03(t: number): number {
  const q = (t + 0.5) | 0;
  return q < 0 ? 0 : q > 3 ? 3 : q;
}
