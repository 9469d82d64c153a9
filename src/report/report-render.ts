// Server-side chart rendering for the Markdown report: Vega-Lite -> Vega ->
// SVG (vega's headless View), then SVG -> PNG with resvg.
import * as vega from "vega";
import { compile } from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import type { VlSpec } from "./charts/spec.js";

export async function chartSvg(spec: VlSpec): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const compiled = compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, { fitTo: { mode: "zoom", value: scale }, background: "white", font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } });
  return r.render().asPng();
}

export async function renderChartImages(spec: VlSpec): Promise<{ svg: string; png: Buffer }> {
  const svg = await chartSvg(spec);
  return { svg, png: svgToPng(svg) };
}
