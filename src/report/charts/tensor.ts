// Per-tensor charts: weight histogram, sorted activation RMS, power vs error
// scatter, and the block heat map of where output error comes from.
import type { TensorEvidence } from "../report-model.js";
import { argsortDesc } from "../report-stats.js";
import { base, keepIndices, r4, slug, ZOOM, type Chart, type ChartOptions } from "./spec.js";

export function weightHistogramChart(t: TensorEvidence, opts: ChartOptions): Chart {
  const h = t.weight.histogram;
  const values = h.counts
    .map((c, i) => ({ lo: r4(h.lo + i * h.width), hi: r4(h.lo + (i + 1) * h.width), count: c }))
    .filter((v) => v.count > 0); // log scale: empty bins are simply absent
  return {
    id: `${slug(t.name)}-hist`,
    title: "Weight values",
    caption: "Log-scale counts: a Gaussian looks like a parabola; long flat tails are outliers that stretch block scales.",
    spec: {
      ...base(opts, 180),
      data: { values },
      params: ZOOM,
      mark: { type: "rect", tooltip: true, color: "#4c78a8" },
      encoding: {
        x: { field: "lo", type: "quantitative", title: "weight value" },
        x2: { field: "hi" },
        y: { field: "count", type: "quantitative", scale: { type: "log" }, title: "count (log)" },
        tooltip: [{ field: "lo", title: "from" }, { field: "hi", title: "to" }, { field: "count", title: "count" }],
      },
    },
  };
}

export function activationRmsChart(t: TensorEvidence, opts: ChartOptions): Chart | undefined {
  const a = t.activation;
  if (!a) return undefined;
  const order = argsortDesc(a.colPower);
  const values = keepIndices(order.length, 200, 600).map((rank) => ({
    rank: rank + 1, col: order[rank]!, rms: r4(Math.sqrt(a.colPower[order[rank]!]!)),
  })).filter((v) => v.rms > 0);
  return {
    id: `${slug(t.name)}-actrms`,
    title: "Activation RMS per input column, sorted",
    caption: "A steep drop at the left means a few columns carry most of the input power: their weight errors count most.",
    spec: {
      ...base(opts, 180),
      data: { values },
      params: ZOOM,
      mark: { type: "line", point: { size: 14, color: "#f58518" }, tooltip: true, color: "#f58518" },
      encoding: {
        x: { field: "rank", type: "quantitative", title: "rank (largest first)" },
        y: { field: "rms", type: "quantitative", scale: { type: "log" }, title: "RMS of x_j (log)" },
        tooltip: [{ field: "rank" }, { field: "col", title: "column" }, { field: "rms", title: "RMS" }],
      },
    },
  };
}

export function powerVsErrorChart(t: TensorEvidence, opts: ChartOptions): Chart | undefined {
  const a = t.activation, e = t.columnError;
  if (!a || !e) return undefined;
  const contrib = Array.from(a.colPower, (p, j) => p * e.colMse[j]!);
  const order = argsortDesc(contrib);
  const values = keepIndices(order.length, 400, 1200).map((k) => {
    const j = order[k]!;
    return { col: j, power: r4(a.colPower[j]!), mse: r4(e.colMse[j]!), contrib: r4(contrib[j]!) };
  }).filter((v) => v.power > 0 && v.mse > 0);
  return {
    id: `${slug(t.name)}-scatter`,
    title: `Activation power vs weight error per column (${e.type})`,
    caption: "Points up and to the right are columns that are both loud and badly quantized; colour = their product (output error).",
    spec: {
      ...base(opts, 220),
      data: { values },
      params: ZOOM,
      mark: { type: "point", filled: true, opacity: 0.7, size: 18, tooltip: true },
      encoding: {
        x: { field: "power", type: "quantitative", scale: { type: "log" }, title: "E[x_j²] (log)" },
        y: { field: "mse", type: "quantitative", scale: { zero: false }, title: `weight MSE of column j (${e.type})` },
        color: { field: "contrib", type: "quantitative", scale: { type: "log", scheme: "viridis" }, title: "power × MSE" },
        tooltip: [{ field: "col", title: "column" }, { field: "power", title: "E[x²]" }, { field: "mse", title: "MSE" }, { field: "contrib", title: "power×MSE" }],
      },
    },
  };
}

export function blockHeatmapChart(t: TensorEvidence, opts: ChartOptions): Chart | undefined {
  const b = t.blockError, a = t.activation;
  if (!b || !a) return undefined;
  // Mean activation power per column block.
  const blockPower = new Array<number>(b.nColBlocks).fill(0);
  for (let c = 0; c < b.nColBlocks; c++) {
    const s = c * b.colBlock, e = Math.min(t.cols, s + b.colBlock);
    for (let j = s; j < e; j++) blockPower[c]! += a.colPower[j]!;
    blockPower[c]! /= e - s;
  }
  let total = 0;
  for (let r = 0; r < b.nRowBands; r++) for (let c = 0; c < b.nColBlocks; c++) total += blockPower[c]! * b.mse[r * b.nColBlocks + c]!;
  const values = [];
  for (let r = 0; r < b.nRowBands; r++) {
    for (let c = 0; c < b.nColBlocks; c++) {
      const mse = b.mse[r * b.nColBlocks + c]!;
      values.push({
        c0: c * b.colBlock, c1: Math.min(t.cols, (c + 1) * b.colBlock),
        r0: r * b.rowBand, r1: Math.min(t.rows, (r + 1) * b.rowBand),
        power: r4(blockPower[c]!), mse: r4(mse),
        share: r4(total > 0 ? (blockPower[c]! * mse) / total : 0),
      });
    }
  }
  return {
    id: `${slug(t.name)}-heat`,
    title: `Where output error comes from: column block power × weight MSE (${b.type})`,
    caption: `Each cell is ${b.rowBand} rows × ${b.colBlock} columns; bright cells are blocks where loud inputs meet large weight error.`,
    spec: {
      ...base(opts, 200),
      data: { values },
      params: ZOOM,
      mark: { type: "rect", tooltip: true },
      encoding: {
        x: { field: "c0", type: "quantitative", title: "input column", scale: { domain: [0, t.cols], nice: false } },
        x2: { field: "c1" },
        y: { field: "r0", type: "quantitative", title: "output row", scale: { domain: [0, t.rows], nice: false, reverse: true } },
        y2: { field: "r1" },
        color: { field: "share", type: "quantitative", scale: { scheme: "inferno" }, title: "share of output error" },
        tooltip: [
          { field: "c0", title: "cols from" }, { field: "c1", title: "to" }, { field: "r0", title: "rows from" }, { field: "r1", title: "to" },
          { field: "power", title: "mean E[x²]" }, { field: "mse", title: "weight MSE" }, { field: "share", title: "share", format: ".2%" },
        ],
      },
    },
  };
}

/** The charts of one tensor, in display order (missing evidence -> chart left out). */
export function tensorCharts(t: TensorEvidence, opts: ChartOptions): Chart[] {
  return [weightHistogramChart(t, opts), activationRmsChart(t, opts), powerVsErrorChart(t, opts), blockHeatmapChart(t, opts)]
    .filter((c): c is Chart => c !== undefined);
}
