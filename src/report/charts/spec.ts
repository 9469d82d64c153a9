// What every chart is: a Vega-Lite spec with its data inline, a title and a
// one-line caption saying what to look for. Specs are plain JSON so the same
// object renders in the browser (vega-embed) and on the server (Markdown SVG).

/** A Vega-Lite spec as plain JSON (kept loose: vega-lite's own types are huge). */
export type VlSpec = Record<string, unknown>;

export interface Chart {
  /** Unique within a report (used for element ids and image file names). */
  readonly id: string;
  readonly title: string;
  /** One line: what to look for. */
  readonly caption: string;
  readonly spec: VlSpec;
  /** Spans the full width of the chart grid (tall or dense charts). */
  readonly wide?: boolean;
}

export interface ChartOptions {
  /** "container" in the HTML (fills its box); a number of pixels for static SVG/PNG. */
  readonly width: number | "container";
  readonly height?: number;
  /**
   * Share (0..1] of the full point budget per chart: big models get fewer
   * points per tensor so the HTML stays a sane size (see detailFor).
   */
  readonly detail?: number;
}

/** Point budget share per tensor: full detail up to 24 tensors, then shrinking, never below 0.15. */
export function detailFor(tensors: number): number {
  return Math.max(0.15, Math.min(1, 24 / Math.max(1, tensors)));
}

/** Pan and zoom on both axes with the mouse / wheel; double-click resets. */
export const ZOOM = [{ name: "zoom", select: "interval", bind: "scales" }] as const;

export function base(opts: ChartOptions, height = 220): VlSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    width: opts.width,
    height: opts.height ?? height,
    autosize: { type: "fit-x", contains: "padding" },
    background: "white",
    config: { font: "sans-serif", axis: { labelFontSize: 11, titleFontSize: 11 }, legend: { labelFontSize: 10, titleFontSize: 11 }, view: { stroke: null } },
  };
}

/** Safe id fragment from a tensor name. */
export function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
}

/** Rounds for compact JSON (4 significant digits is plenty for a chart). */
export function r4(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : 0;
}

/**
 * Indices to plot from a series of n points sorted by importance: the first
 * `head` exactly, then about `tail` more spread evenly over the rest.
 */
export function keepIndices(n: number, head: number, tail: number): number[] {
  if (n <= head + tail) return Array.from({ length: n }, (_, i) => i);
  const out = Array.from({ length: head }, (_, i) => i);
  const step = (n - head) / tail;
  for (let k = 0; k < tail; k++) out.push(head + Math.floor(k * step));
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}
