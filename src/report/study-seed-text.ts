// The original study's report, line for line (--seed-compat): same headers,
// labels and number formatting, so its output can be compared number by number.
import type { DistributionStats, StudyResult } from "../analysis/study/types.js";
import { pyF, RULE, THIN } from "./study-format.js";

function stats(out: string[], s: DistributionStats): void {
  const p = s.percentiles.map((x) => x.value);
  out.push(` ${s.name}:`);
  out.push(` shape=(${s.rows}, ${s.cols}), n=${s.rows * s.cols}`);
  out.push(` mean=${pyF(s.mean, 6)}, std=${pyF(s.std, 6)}`);
  out.push(` min=${pyF(s.min, 6)}, max=${pyF(s.max, 6)}`);
  out.push(` median=${pyF(s.median, 6)}`);
  out.push(` |mean|/std = ${pyF(s.meanOverStd, 4)} (offset-to-spread ratio)`);
  out.push(` skewness=${pyF(s.skewness, 4)}, excess_kurtosis=${pyF(s.excessKurtosis, 4)}`);
  out.push(
    ` percentiles: 0.1%=${pyF(p[0], 4)}, 1%=${pyF(p[1], 4)}, 5%=${pyF(p[2], 4)}, ` +
      `25%=${pyF(p[3], 4)}, 50%=${pyF(p[4], 4)}, 75%=${pyF(p[5], 4)}, ` +
      `95%=${pyF(p[6], 4)}, 99%=${pyF(p[7], 4)}, 99.9%=${pyF(p[8], 4)}`,
  );
  out.push(` fraction |x| < 0.001*std: ${pyF(s.nearZeroFraction, 4)}`);
}

function header(out: string[], title: string, first = false): void {
  if (!first) out.push("");
  out.push(RULE, title, RULE);
}

const sq = (x: number | null) => (x === null ? NaN : x);

export function formatStudySeed(r: StudyResult): string {
  const out: string[] = [];
  header(out, "SECTION 1: WEIGHT TENSOR GLOBAL STATISTICS", true);
  const byName1 = new Map(r.section1.tensors.map((t) => [t.name, t]));
  for (const inp of r.inputs.filter((i) => i.role === "weight")) {
    const s = byName1.get(inp.key);
    if (!s) { out.push(` ${inp.key}: SKIP (${inp.note ?? inp.status})`); continue; }
    out.push("", THIN, ` ${s.name} [${s.description}] — file: ${s.file}`);
    stats(out, s);
  }

  header(out, "SECTION 2: ROW-LEVEL VARIABILITY (per-neuron weight statistics)");
  out.push(" Each row of the weight matrix produces one output dimension.",
    " High row-to-row variability in mean/std means the quantizer",
    " must handle very different distributions across rows.", "");
  for (const t of r.section2.tensors) {
    out.push("", ` ${t.name} (${t.rows} rows × ${t.cols} cols):`);
    out.push(` Row means: mean=${pyF(t.rowMeans.mean, 6)}, std=${pyF(t.rowMeans.std, 6)}, range=[${pyF(t.rowMeans.min, 6)}, ${pyF(t.rowMeans.max, 6)}]`);
    out.push(` Row stds: mean=${pyF(t.rowStds.mean, 6)}, std=${pyF(t.rowStds.std, 6)}, range=[${pyF(t.rowStds.min, 6)}, ${pyF(t.rowStds.max, 6)}]`);
    out.push(` Row ranges: mean=${pyF(t.rowRanges.mean, 6)}, std=${pyF(t.rowRanges.std, 6)}`);
    out.push(` RowMeans CV (std/mean): ${pyF(t.rowMeansCv, 4)}`);
    out.push(` RowStds CV: ${pyF(t.rowStdsCv, 4)}`);
  }

  header(out, "SECTION 3: GROUP-LEVEL ANALYSIS (16-element groups)");
  out.push(" Quantization works on 16-element groups. Key question:", " How much does each group need its own OFFSET (dmin)?", "");
  for (const g of r.section3.tensors) {
    const o = g.offsetImportance;
    out.push("", ` ${g.name} (${g.groups} groups):`);
    out.push(` Group mean: mean=${pyF(g.groupMean.mean, 6)}, std=${pyF(g.groupMean.std, 6)}, range=[${pyF(g.groupMean.min, 6)}, ${pyF(g.groupMean.max, 6)}]`);
    out.push(` Group std: mean=${pyF(g.groupStd.mean, 6)}, std=${pyF(g.groupStd.std, 6)}`);
    out.push(` Group range: mean=${pyF(g.groupRange.mean, 6)}, std=${pyF(g.groupRange.std, 6)}`);
    out.push(` *** OFFSET IMPORTANCE (|group_mean| / range) ***`);
    out.push(` mean=${pyF(o.mean, 4)}, median=${pyF(o.median, 4)}, p90=${pyF(o.p90, 4)}, max=${pyF(o.max, 4)}`);
    for (const a of o.above) out.push(` fraction with offset > ${a.threshold}: ${pyF(a.fraction, 3)}`);
    out.push(` Quant RMSE (no offset): ${pyF(g.rmseNoOffset, 6)}`);
    out.push(` Quant RMSE (with offset): ${pyF(g.rmseWithOffset, 6)}`);
    out.push(` Offset benefit: ${pyF(g.offsetBenefitPct, 1)}% RMSE reduction`);
  }

  header(out, "SECTION 4: ACTIVATION DISTRIBUTION COMPARISON");
  const byName4 = new Map(r.section4.tensors.map((t) => [t.name, t]));
  for (const inp of r.inputs.filter((i) => i.role === "activation")) {
    const s = byName4.get(inp.key);
    if (!s) { out.push(` ${inp.key}: SKIP (${inp.note ?? inp.status})`); continue; }
    out.push("", THIN, ` ${s.name} — ${s.file}`);
    stats(out, s);
  }

  header(out, "SECTION 5: PER-DIMENSION ACTIVATION POWER (per-column RMS)");
  out.push(" If activation dimensions have very different magnitudes,",
    " the quantization error in each weight dimension is weighted differently.",
    " Dimensions with high activation power amplify weight errors.", "");
  for (const a of r.section5.tensors) {
    const c = a.colRms;
    const list = (xs: readonly { dim: number; value: number }[]) => `[${xs.map((x) => `(${x.dim}, '${pyF(x.value, 4)}')`).join(", ")}]`;
    out.push("", ` ${a.name} (${a.dims} dimensions):`);
    out.push(` Col RMS: mean=${pyF(c.mean, 6)}, std=${pyF(c.std, 6)}`);
    out.push(` Col RMS range: [${pyF(c.min, 6)}, ${pyF(c.max, 6)}]`);
    out.push(` Col RMS CV (std/mean): ${pyF(sq(c.std) / (sq(c.mean) + 1e-10), 4)}`);
    out.push(` Max/Min ratio: ${pyF(sq(c.max) / (sq(c.min) + 1e-10), 1)}x`);
    out.push(` Top-10 dims by RMS: ${list(a.top)}...`);
    out.push(` Bot-10 dims by RMS: ${list(a.bottom)}...`);
    out.push(` Top 10% of dims contribute ${pyF(a.top10PctPowerShare, 1)}% of total power`);
    out.push(` Top 1% of dims contribute ${pyF(a.top1PctPowerShare, 1)}% of total power`);
  }

  header(out, "SECTION 6: WHERE DO WEIGHT ERRORS MEET HIGH ACTIVATION POWER?");
  out.push(" For each weight dimension, compute: activation_rms[dim] × weight_error[dim]",
    " This tells us which dimensions contribute most to matmul error.", "");
  for (const s of r.section6.skipped) out.push(` ${s}`);
  for (const e of r.section6.tensors) {
    out.push("", ` ${e.name} (${e.dims} dimensions):`);
    out.push(` act_rms: mean=${pyF(e.actRmsMean, 4)}, CV=${pyF(e.actRmsCv, 4)}`);
    out.push(` w_rmse: mean=${pyF(e.wRmseMean, 6)}, CV=${pyF(e.wRmseCv, 4)}`);
    out.push(` matmul_contrib: mean=${pyF(e.contribMean, 6)}, std=${pyF(e.contribStd, 6)}`);
    out.push(` CORRELATION act_rms ↔ weight_rmse: ${pyF(e.correlation, 4)}`);
    out.push(` (>0 means high-power dims are also hard to quantize — BAD)`);
    out.push(` Top-5 error-contributing dimensions:`);
    for (const d of e.topDims) {
      out.push(` dim ${d.dim}: act_rms=${pyF(d.actRms, 4)}, w_rmse=${pyF(d.wRmse, 6)}, contrib=${pyF(d.contrib, 6)}, w_std=${pyF(d.wStd, 6)}, w_kurt=${pyF(d.wKurt, 2)}`);
    }
    for (const s of e.contribShares) out.push(` Top ${pyF(s.fraction * 100, 0)}% dims: ${pyF(s.sharePct, 1)}% of total matmul error`);
  }

  header(out, "SECTION 7: STRUCTURAL ASYMMETRY — COLUMN vs ROW GROUPING");
  out.push(" Quantization groups along the ROW (inner dim). For ffn_down,",
    " each row has 9728 elements (38 groups of 256).",
    " For ffn_gate, each row has 2560 elements (10 groups of 256).",
    " More groups = more metadata (scales/offsets) relative to data bits.", "");
  for (const g of r.section7.tensors) {
    const s = g.groupMeanSign;
    out.push("", ` ${g.name}: ${g.cols} cols → ${g.superBlocksPerRow} super-blocks per row`);
    out.push(` Groups per row: ${g.groupsPerRow} (16-element groups)`);
    out.push(` With Q2_K (2.625 bpw): ${g.studyMetadataBytesPerRow} scale+offset bytes per row`);
    out.push(` Intra-row group mean variability (avg across rows): mean=${pyF(g.intraRowGroupMeanStd, 6)}`);
    out.push(` Group mean sign: ${pyF(s.positivePct, 1)}% positive, ${pyF(s.negativePct, 1)}% negative, ${pyF(s.nearZeroPct, 1)}% near-zero`);
  }

  header(out, "SECTION 8: THE SWIGLU EFFECT — ffn_down ACTIVATION STRUCTURE");
  out.push(" ffn_down's activation is the SwiGLU output: silu(gate) * up",
    " This creates a specific activation pattern that differs from",
    " raw FFN input (RMSNorm output).", "");
  const s8 = r.section8;
  if (s8.available && s8.dims) {
    const sh = (x: readonly [number, number] | null) => (x ? `(${x[0]}, ${x[1]})` : "?");
    out.push(` FFN input (RMSNorm output): ${sh(s8.ffnInputShape)}`);
    out.push(` SwiGLU output: ${sh(s8.swigluShape)}`);
    for (const t of s8.tokens) {
      out.push("", ` Token ${t.token}:`);
      out.push(` FFN input: mean=${pyF(t.ffnInput.mean, 6)}, std=${pyF(t.ffnInput.std, 6)}, |max|=${pyF(t.ffnInput.absMax, 6)}`);
      out.push(` SwiGLU out: mean=${pyF(t.swiglu.mean, 6)}, std=${pyF(t.swiglu.std, 6)}, |max|=${pyF(t.swiglu.absMax, 6)}`);
      out.push(` Near-zero fraction: FFN input=${pyF(t.ffnInput.nearZeroFraction, 3)}, SwiGLU=${pyF(t.swiglu.nearZeroFraction, 3)}`);
      out.push(` SwiGLU negative fraction: ${pyF(t.swigluNegativeFraction, 3)}`);
    }
    const d = s8.dims;
    out.push("", ` Dimension-level SwiGLU properties:`);
    out.push(` Dim mean range: [${pyF(d.meanMin, 6)}, ${pyF(d.meanMax, 6)}]`);
    out.push(` Dim std range: [${pyF(d.stdMin, 6)}, ${pyF(d.stdMax, 6)}]`);
    out.push(` Dim negative fraction: mean=${pyF(d.negativeFraction.mean, 3)}, range=[${pyF(d.negativeFraction.min, 3)}, ${pyF(d.negativeFraction.max, 3)}]`);
    out.push(` Dims with >70% negative tokens: ${d.dimsNegativeAbove70}/${d.count}`);
    out.push(` Dims with <30% negative tokens: ${d.dimsNegativeBelow30}/${d.count}`);
  }

  header(out, "SECTION 9: MATMUL ERROR DECOMPOSITION");
  out.push(" matmul_error ≈ sum over groups of (activation_power_in_group × weight_mse_in_group)",
    " If activation power is concentrated in groups with high weight error, matmul error explodes.", "");
  for (const s of r.section9.skipped) out.push(` ${s}`);
  for (const b of r.section9.tensors) {
    out.push("", ` ${b.name}:`);
    out.push(` Super-blocks: ${b.superBlocks}`);
    if (b.superBlocks === 0) {
      // The study crashes here (ValueError on an empty array, defect 28); we carry on.
      out.push(` (no full 256-column super-block in a ${b.superBlocks + b.tailColumns}-column row: nothing to decompose)`);
      continue;
    }
    out.push(` act_power: mean=${pyF(b.actPower.mean, 6)}, std=${pyF(b.actPower.std, 6)}, range=[${pyF(b.actPower.min, 6)}, ${pyF(b.actPower.max, 6)}]`);
    out.push(` weight_mse: mean=${pyF(b.weightMse.mean, 6)}, range=[${pyF(b.weightMse.min, 6)}, ${pyF(b.weightMse.max, 6)}]`);
    out.push(` CORRELATION (act_power ↔ weight_mse): ${pyF(b.correlation, 4)}`);
    out.push(` Top-5 error-contributing super-blocks (of ${b.superBlocks}):`);
    for (const t of b.top) {
      out.push(` SB ${t.startCol}-${t.endCol}: act_power=${pyF(t.actPower, 6)}, weight_mse=${pyF(t.weightMse, 6)}, contrib=${pyF(t.contrib, 6)}`);
    }
  }
  out.push("", RULE, "ANALYSIS COMPLETE", RULE);
  return out.join("\n") + "\n";
}
