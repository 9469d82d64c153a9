// Per-tensor charts: weight histogram, sorted activation RMS, power vs error
// scatter, and the block heat map of where output error comes from.
import type { BlockErrorEvidence, TensorEvidence } from "../../analysis/diagnosis/model.js";
import { argsortDesc } from "../../analysis/diagnosis/stats.js";
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
  const d = opts.detail ?? 1;
  const values = keepIndices(order.length, Math.round(200 * d), Math.round(600 * d)).map((rank) => ({
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
  const d = opts.detail ?? 1;
  const values = keepIndices(order.length, Math.round(400 * d), Math.round(1200 * d)).map((k) => {
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
  const b0 = t.blockError, a = t.activation;
  if (!b0 || !a) return undefined;
  const b = mergeRowBands(b0, t.rows, Math.max(8, Math.round(32 * (opts.detail ?? 1))));
  // Mean activation power per column block.
  const blockPower = new Array<number>(b.nColBlocks).fill(0);
  for (let c = 0; c < b.nColBlocks; c++) {
    const s = c * b.colBlock, e = Math.min(t.cols, s + b.colBlock);
    for (let j = s; j < e; j++) blockPower[c]! += a.colPower[j]!;
    blockPower[c]! /= e - s;
  }
  let total = 0;
  for (let r = 0; r < b.nRowBands; r++) for (let c = 0; c < b.nColBlocks; c++) total += blockPower[c]! * b.mse[r * b.nColBlocks + c]!;
  // Compact rows {r, c, p, m}; cell bounds and shares are derived in the spec (keeps big models' HTML small).
  const values = [];
  for (let r = 0; r < b.nRowBands; r++) {
    for (let c = 0; c < b.nColBlocks; c++) values.push({ r, c, p: r4(blockPower[c]!), m: r4(b.mse[r * b.nColBlocks + c]!) });
  }
  return {
    id: `${slug(t.name)}-heat`,
    title: `Where output error comes from: column block power × weight MSE (${b.type})`,
    caption: `Each cell is ${b.rowBand} rows × ${b.colBlock} columns; bright cells are blocks where loud inputs meet large weight error.`,
    spec: {
      ...base(opts, 200),
      data: { values },
      transform: [
        { calculate: `datum.c * ${b.colBlock}`, as: "c0" },
        { calculate: `min(${t.cols}, datum.c0 + ${b.colBlock})`, as: "c1" },
        { calculate: `datum.r * ${b.rowBand}`, as: "r0" },
        { calculate: `min(${t.rows}, datum.r0 + ${b.rowBand})`, as: "r1" },
        { calculate: total > 0 ? `datum.p * datum.m / ${total}` : "0", as: "share" },
      ],
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
          { field: "p", title: "mean E[x²]" }, { field: "m", title: "weight MSE" }, { field: "share", title: "share", format: ".2%" },
        ],
      },
    },
  };
}

/** Coarser grid: consecutive row bands merged (row-weighted mean MSE) until at most maxBands remain. */
export function mergeRowBands(b: BlockErrorEvidence, rows: number, maxBands: number): BlockErrorEvidence {
  const k = Math.ceil(b.nRowBands / maxBands);
  if (k <= 1) return b;
  const nRowBands = Math.ceil(b.nRowBands / k);
  const mse = new Float64Array(nRowBands * b.nColBlocks);
  for (let R = 0; R < nRowBands; R++) {
    for (let c = 0; c < b.nColBlocks; c++) {
      let s = 0, n = 0;
      for (let r = R * k; r < Math.min(b.nRowBands, (R + 1) * k); r++) {
        const h = Math.min(rows, (r + 1) * b.rowBand) - r * b.rowBand;
        s += b.mse[r * b.nColBlocks + c]! * h; n += h;
      }
      mse[R * b.nColBlocks + c] = n ? s / n : 0;
    }
  }
  return { ...b, rowBand: b.rowBand * k, nRowBands, mse };
}

/** The charts of one tensor, in display order (missing evidence -> chart left out). */
export function tensorCharts(t: TensorEvidence, opts: ChartOptions): Chart[] {
  return [weightHistogramChart(t, opts), activationRmsChart(t, opts), powerVsErrorChart(t, opts), blockHeatmapChart(t, opts)]
    .filter((c): c is Chart => c !== undefined);
}
