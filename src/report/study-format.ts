// Number formatting shared by the study reports: Python's f-string
// conventions, so the seed-compat report matches the study character for character.

/** Python f"{x:.{d}f}": "nan"/"inf"/"-inf" for non-finite, keeps the sign of negative zero. */
export function pyF(x: number | null | undefined, d: number): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  let s = x.toFixed(d);
  // toFixed breaks exact ties upward; Python rounds them to even.
  const scaled = Math.abs(x) * 10 ** d;
  if (scaled % 1 === 0.5 && Math.floor(scaled) % 2 === 0 && scaled < 2 ** 52) {
    s = (Math.floor(scaled) / 10 ** d).toFixed(d);
    if (x < 0) s = "-" + s;
  }
  if ((x < 0 || Object.is(x, -0)) && !s.startsWith("-")) return "-" + s;
  return s;
}

/** Scientific notation for small quantities the study printed as 0.000000 (defect 30). */
export function sci(x: number | null | undefined, d = 4): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "n/a";
  return x.toExponential(d);
}

/** A value or "n/a". */
export function fx(x: number | null | undefined, d: number): string {
  return x === null || x === undefined || Number.isNaN(x) ? "n/a" : pyF(x, d);
}

export const RULE = "=".repeat(80);
export const THIN = "─".repeat(70);
