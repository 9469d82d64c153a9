// Model-level charts: error vs bits per weight (Pareto curves), the
// sensitivity ranking, and the plan next to llama.cpp's standard mixes.
import type { Diagnosis } from "../../analysis/diagnosis/diagnosis.js";
import type { ReportData } from "../../analysis/diagnosis/model.js";
import { bitsPerWeight, ggmlTypeByName } from "../../ggml/types.js";
import { base, r4, ZOOM, type Chart, type ChartOptions } from "./spec.js";
import { klAgreement, klPairs } from "../kl-pairs.js";

export function paretoChart(data: ReportData, opts: ChartOptions): Chart | undefined {
  const values = data.tensors.flatMap((t) => t.curve.map((p) => {
    const err = p.relOutputError;
    return { tensor: t.name, kind: t.kind, type: p.type, bpw: r4(p.bpw), err: r4(err), relRmse: r4(p.relRmse) };
  })).filter((v) => v.err > 0);
  if (values.length === 0) return undefined;
  const measured = data.tensors.some((t) => t.curve.some((p) => p.outputErrorSource !== "none")) ? "relative output error" : "relative weight RMSE";
  return {
    id: "model-pareto",
    wide: data.tensors.length > 16,
    title: `Error vs bits per weight (${measured})`,
    caption: "Each line is a tensor: lines higher up lose more at every size; a flat stretch means extra bits buy little there.",
    spec: {
      ...base(opts, 260),
      data: { values },
      params: ZOOM,
      mark: { type: "line", point: true, tooltip: true, strokeWidth: 1.5 },
      encoding: {
        x: { field: "bpw", type: "quantitative", title: "bits per weight", scale: { zero: false } },
        y: { field: "err", type: "quantitative", scale: { type: "log" }, title: `${measured} (log)` },
        color: { field: "kind", type: "nominal", title: "class" },
        detail: { field: "tensor" },
        tooltip: [{ field: "tensor" }, { field: "type" }, { field: "bpw", format: ".3f" }, { field: "err", title: measured, format: ".4f" }, { field: "relRmse", title: "rel. weight RMSE", format: ".4f" }],
      },
    },
  };
}

export function rankingChart(data: ReportData, diag: Diagnosis, opts: ChartOptions): Chart | undefined {
  if (diag.ranking.length === 0) return undefined;
  const kindOf = new Map(data.tensors.map((t) => [t.name, t.kind]));
  const values = diag.ranking.slice(0, 60).map((r) => ({
    tensor: r.tensor, kind: kindOf.get(r.tensor) ?? "", score: r4(r.score), from: r.source + (r.range ? " (~ uncertain)" : ""),
    range: r.range ? `${r4(r.range[0])} – ${r4(r.range[1])}` : "",
  }));
  const scoreName = diag.ranking[0]!.scoreName;
  return {
    id: "model-ranking",
    wide: values.length > 16,
    title: `Sensitivity ranking (${scoreName})`,
    caption: "Longest bars first: these tensors deserve the extra bits; a tail of short bars is where bits can be saved.",
    spec: {
      ...base(opts, Math.max(120, 16 * values.length)),
      autosize: { type: "fit-x", contains: "padding" },
      data: { values },
      mark: { type: "bar", tooltip: true },
      encoding: {
        y: { field: "tensor", type: "nominal", sort: "-x", title: null, axis: { labelLimit: 220 } },
        x: { field: "score", type: "quantitative", title: scoreName },
        color: { field: "kind", type: "nominal", title: "class" },
        tooltip: [{ field: "tensor" }, { field: "score", title: scoreName, format: ".4g" }, { field: "from" }, ...(values.some((v) => v.range) ? [{ field: "range", title: "uncertain range" }] : [])],
      },
    },
  };
}

export function planChart(data: ReportData, opts: ChartOptions): Chart | undefined {
  if (data.plans.length === 0) return undefined;
  const values = data.plans.flatMap((p) => p.entries.map((e) => {
    const t = ggmlTypeByName(e.type);
    return { plan: p.label, tensor: e.tensor, type: e.type, bpw: t ? r4(bitsPerWeight(t)) : 32 };
  }));
  const order = data.plans.map((p) => p.label);
  const hasPlan = data.plans.some((p) => p.kind === "plan");
  return {
    id: "model-plans",
    wide: true,
    title: hasPlan ? "The plans next to llama.cpp's standard mixes" : "llama.cpp's standard mixes, tensor by tensor",
    caption: hasPlan
      ? "Each column is a mix, each row a tensor; darker = more bits. A plan moves bits to the tensors the ranking marks as sensitive."
      : "Each column is a mix, each row a tensor; darker = more bits.",
    spec: {
      ...base(opts, Math.max(120, 14 * new Set(values.map((v) => v.tensor)).size)),
      data: { values },
      encoding: {
        x: { field: "plan", type: "nominal", sort: order, title: null, axis: { orient: "top", labelAngle: -30, labelLimit: 160 } },
        y: { field: "tensor", type: "nominal", title: null, axis: { labelLimit: 220 } },
      },
      layer: [
        { mark: { type: "rect", tooltip: true }, encoding: { color: { field: "bpw", type: "quantitative", scale: { scheme: "blues" }, title: "bpw" }, tooltip: [{ field: "plan" }, { field: "tensor" }, { field: "type" }, { field: "bpw" }] } },
        { mark: { type: "text", fontSize: 9 }, encoding: { text: { field: "type" }, color: { condition: { test: "datum.bpw > 5", value: "white" }, value: "black" } } },
      ],
    },
  };
}

/**
 * Predicted vs measured single-tensor KL (report --measure-kl), log-log, one point per (tensor, type):
 * colour = type, shape = what predicted it, the y = x line for reference, Spearman in the caption.
 */
export function klScatterChart(data: ReportData, opts: ChartOptions): Chart | undefined {
  const pairs = klPairs(data);
  if (pairs.length < 2) return undefined;
  const a = klAgreement(pairs);
  const all = pairs.flatMap((p) => [p.predicted, p.measured]);
  const lo = Math.min(...all) / 1.5, hi = Math.max(...all) * 1.5;
  const values = pairs.map((p) => ({
    tensor: p.tensor, type: p.type, from: p.source + (p.uncertain ? " (~)" : ""), predicted: r4(p.predicted), measured: r4(p.measured),
    ratio: r4(p.predicted / p.measured),
  }));
  const scale = { type: "log", domain: [r4(lo), r4(hi)] };
  return {
    id: "model-kl-scatter",
    wide: false,
    title: "Predicted vs measured single-tensor KL",
    caption: `One point per tensor and type (${a.n}); on the dashed line prediction = measurement. Spearman ${a.spearman.toFixed(3)}, median |log10(predicted/measured)| ${a.medianAbsLog10.toFixed(2)}. Measured with quantscope's reference forward pass (--measure-kl).`,
    spec: {
      ...base(opts, 300),
      layer: [
        {
          data: { values: [{ predicted: r4(lo), measured: r4(lo) }, { predicted: r4(hi), measured: r4(hi) }] },
          mark: { type: "line", strokeDash: [4, 4], color: "#888", strokeWidth: 1 },
          encoding: {
            x: { field: "predicted", type: "quantitative", scale, title: "predicted KL (nats/token, log)", axis: { format: ".0e" } },
            y: { field: "measured", type: "quantitative", scale, title: "measured KL (nats/token, log)", axis: { format: ".0e" } },
          },
        },
        {
          data: { values },
          params: ZOOM,
          mark: { type: "point", filled: true, size: 60, opacity: 0.85, tooltip: true },
          encoding: {
            x: { field: "predicted", type: "quantitative", scale },
            y: { field: "measured", type: "quantitative", scale },
            color: { field: "type", type: "nominal", title: "type" },
            shape: { field: "from", type: "nominal", title: "predicted from" },
            tooltip: [{ field: "tensor" }, { field: "type" }, { field: "from", title: "predicted from" }, { field: "predicted", format: ".3g" }, { field: "measured", format: ".3g" }, { field: "ratio", title: "predicted / measured", format: ".2f" }],
          },
        },
      ],
    },
  };
}

export function modelCharts(data: ReportData, diag: Diagnosis, opts: ChartOptions): Chart[] {
  return [rankingChart(data, diag, opts), klScatterChart(data, opts), paretoChart(data, opts), planChart(data, opts)].filter((c): c is Chart => c !== undefined);
}
