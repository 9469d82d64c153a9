// Small helpers shared by the study sections.
import type { Summary } from "./types.js";
import { meanStd } from "../../stats/moments.js";

/** NaN / ±Infinity -> null (JSON-safe "undefined for this data"). */
export function nn(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** Summary of a numeric series (NaN skipped). */
export function summarize(a: ArrayLike<number>): Summary {
  const s = meanStd(a);
  return { mean: nn(s.mean), std: nn(s.std), min: nn(s.min), max: nn(s.max) };
}

/** a / b, null when undefined. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return nn(a / b);
}
