// The study's text report in default mode: the same nine sections, every row,
// corrected labels (docs/corrections.md) and the corrected metrics next to the
// study's own. Formatting only: every number comes from the StudyResult.
import type { DistributionStats, StudyResult, TopShare } from "../analysis/study/types.js";
import { fx, RULE, sci, THIN } from "./study-format.js";

function header(out: string[], title: string, first = false): void {
  if (!first) out.push("");
  out.push(RULE, title, RULE);
}

function stats(out: string[], s: DistributionStats): void {
  const p = s.percentiles.map((x) => `${x.p}%=${fx(x.value, 4)}`).join(", ");
  out.push(` shape=(${s.rows}, ${s.cols}), n=${s.n}${s.n < s.rows * s.cols ? ` finite of ${s.rows * s.cols}` : ""}`);
  const nf = s.nonFinite;
  if (nf.nan + nf.posInf + nf.negInf > 0) out.push(` non-finite (excluded): NaN=${nf.nan}, +Inf=${nf.posInf}, -Inf=${nf.negInf}`);
  out.push(` mean=${fx(s.mean, 6)}, std=${fx(s.std, 6)}`);
  out.push(` min=${fx(s.min, 6)}, max=${fx(s.max, 6)}`);
  out.push(` median=${fx(s.median, 6)}`);
  out.push(` |mean|/std = ${fx(s.meanOverStd, 4)} (offset-to-spread ratio)`);
  out.push(` skewness=${fx(s.skewness, 4)}, excess_kurtosis=${fx(s.excessKurtosis, 4)}`);
  out.push(` percentiles: ${p}`);
  out.push(` fraction |x| < 0.001*std: ${fx(s.nearZeroFraction, 4)}`);
}

const shares = (xs: readonly TopShare[]) => xs.map((s) => `top ${fx(s.fraction * 100, 0)}%: ${fx(s.sharePct, 1)}%`).join(", ");
const rows = (n: number | null) => (n === null ? "all rows" : `first ${n} rows`);

export function formatStudyText(r: StudyResult): string {
  const out: string[] = [];
  out.push(`quantscope study — mode ${r.mode}, group quantizer ${r.quantizer.name} (${r.quantizer.description})`);
  for (const i of r.inputs) if (i.note) out.push(`note: ${i.note}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);

  header(out, "SECTION 1: WEIGHT TENSOR GLOBAL STATISTICS");
  for (const s of r.section1.tensors) {
    out.push("", THIN, ` ${s.name} [${s.description}] — file: ${s.file}`);
    stats(out, s);
  }

  header(out, "SECTION 2: ROW-LEVEL VARIABILITY (per-neuron weight statistics)");
  for (const t of r.section2.tensors) {
    out.push("", ` ${t.name} (${t.rows} rows × ${t.cols} cols):`);
    out.push(` Row means: mean=${fx(t.rowMeans.mean, 6)}, std=${fx(t.rowMeans.std, 6)}, range=[${fx(t.rowMeans.min, 6)}, ${fx(t.rowMeans.max, 6)}]`);
    out.push(` Row stds: mean=${fx(t.rowStds.mean, 6)}, std=${fx(t.rowStds.std, 6)}, range=[${fx(t.rowStds.min, 6)}, ${fx(t.rowStds.max, 6)}]`);
    out.push(` Row ranges: mean=${fx(t.rowRanges.mean, 6)}, std=${fx(t.rowRanges.std, 6)}`);
    out.push(` Row-offset spread std(row means)/mean(row stds): ${fx(t.rowMeanSpread, 4)}`);
    out.push(` RowStds CV: ${fx(t.rowStdsCv, 4)}`);
    if (t.rowsWithNonFinite) out.push(` rows with non-finite values: ${t.rowsWithNonFinite}`);
  }

  header(out, `SECTION 3: GROUP-LEVEL ANALYSIS (${r.section3.groupSize}-element groups, ${rows(r.sampling.section3Rows)})`);
  for (const g of r.section3.tensors) {
    const o = g.offsetImportance;
    out.push("", ` ${g.name} (${g.groups} groups${g.tailColumns ? `; ${g.tailColumns} tail columns per row left out` : ""}):`);
    out.push(` Group mean: mean=${fx(g.groupMean.mean, 6)}, std=${fx(g.groupMean.std, 6)}, range=[${fx(g.groupMean.min, 6)}, ${fx(g.groupMean.max, 6)}]`);
    out.push(` Group std: mean=${fx(g.groupStd.mean, 6)}, std=${fx(g.groupStd.std, 6)}`);
    out.push(` Group range: mean=${fx(g.groupRange.mean, 6)}, std=${fx(g.groupRange.std, 6)}`);
    out.push(` Offset importance |group mean|/range: mean=${fx(o.mean, 4)}, median=${fx(o.median, 4)}, p90=${fx(o.p90, 4)}, max=${fx(o.max, 4)}`);
    out.push(` fraction with offset importance > ${o.above.map((a) => `${a.threshold}: ${fx(a.fraction, 3)}`).join(", > ")}`);
    out.push(` 2-bit RMSE without offset (symmetric levels): ${fx(g.rmseNoOffset, 6)}`);
    out.push(` 2-bit RMSE with offset (min/max affine):     ${fx(g.rmseWithOffset, 6)}`);
    out.push(` Offset benefit: ${fx(g.offsetBenefitPct, 1)}% RMSE reduction`);
    out.push(` ${r.quantizer.name} RMSE: ${g.quantRmse === null ? "n/a" : fx(g.quantRmse, 6)}${g.quantNote ? ` (${g.quantNote})` : ""}`);
  }

  header(out, "SECTION 4: ACTIVATION DISTRIBUTION COMPARISON");
  for (const s of r.section4.tensors) {
    out.push("", THIN, ` ${s.name} — ${s.file}`);
    stats(out, s);
  }

  header(out, "SECTION 5: PER-DIMENSION ACTIVATION POWER (per-column RMS over every token)");
  for (const a of r.section5.tensors) {
    const c = a.colRms;
    const list = (xs: readonly { dim: number; value: number }[]) => xs.map((x) => `${x.dim}:${fx(x.value, 4)}`).join(", ");
    out.push("", ` ${a.name} (${a.dims} dimensions, ${a.tokens} tokens):`);
    out.push(` Col RMS: mean=${fx(c.mean, 6)}, std=${fx(c.std, 6)}, range=[${fx(c.min, 6)}, ${fx(c.max, 6)}]`);
    out.push(` Col RMS CV (std/mean): ${fx(a.cv, 4)}`);
    out.push(` Max/Min ratio: ${a.maxMinRatio === null ? `n/a (${a.deadDims} dead dimension(s) with RMS 0)` : fx(a.maxMinRatio, 1) + "x"}`);
    out.push(` Top-5 dims by RMS: ${list(a.top)}`);
    out.push(` Bottom-5 dims by RMS: ${list(a.bottom)}`);
    out.push(` Top 10% of dims hold ${fx(a.top10PctPowerShare, 1)}% of total power; top 1% hold ${fx(a.top1PctPowerShare, 1)}%`);
  }

  header(out, `SECTION 6: WHERE DO WEIGHT ERRORS MEET HIGH ACTIVATION POWER? (${r.quantizer.name}, ${rows(r.sampling.section6Rows)})`);
  for (const s of r.section6.skipped) out.push(` ${s}`);
  for (const e of r.section6.tensors) {
    out.push("", ` ${e.name} × ${e.activation} (${e.dims} dimensions):`);
    if (e.note) out.push(` note: ${e.note}`);
    out.push(` act_rms: mean=${fx(e.actRmsMean, 4)}, CV=${fx(e.actRmsCv, 4)}`);
    if (e.wRmseMean === null) continue;
    out.push(` w_rmse: mean=${fx(e.wRmseMean, 6)}, CV=${fx(e.wRmseCv, 4)}`);
    out.push(` act_rms × w_rmse: mean=${fx(e.contribMean, 6)}, std=${fx(e.contribStd, 6)}`);
    out.push(` correlation act_rms ↔ w_rmse: ${e.correlation === null ? "undefined (a constant series)" : fx(e.correlation, 4)}`);
    out.push(` expected output error per row  Σ E[x²]·mse = ${sci(e.expectedOutputMse)}`);
    out.push(` Top-5 dimensions by act_rms × w_rmse:`);
    for (const d of e.topDims) {
      out.push(`  dim ${d.dim}: act_rms=${fx(d.actRms, 4)}, w_rmse=${fx(d.wRmse, 6)}, product=${fx(d.contrib, 6)}, w_std=${fx(d.wStd, 6)}, w_kurt=${fx(d.wKurt, 2)}`);
    }
    out.push(` share of expected output error (E[x²]·mse, errors add as variances): ${shares(e.errorVarianceShares)}`);
    out.push(` share of Σ act_rms × w_rmse (the study's measure):                  ${shares(e.contribShares)}`);
  }

  header(out, `SECTION 7: ROW-DIRECTION GROUPING AND Q2_K METADATA (${rows(r.sampling.section7Rows)})`);
  for (const g of r.section7.tensors) {
    const s = g.groupMeanSign;
    out.push("", ` ${g.name}: ${g.cols} cols → ${g.superBlocksPerRow} super-blocks per row${g.superBlockTail ? ` + ${g.superBlockTail} columns outside any super-block` : ""}`);
    out.push(` 16-element groups per row: ${g.groupsPerRow}`);
    out.push(g.superBlocksPerRow > 0
      ? ` Q2_K metadata: ${g.q2kMetadataBytesPerRow} bytes per row (20 per super-block = ${fx(g.q2kMetadataSharePct, 1)}% of ${fx(g.q2kBitsPerWeight, 3)} bpw)`
      : ` Q2_K metadata: none — no full 256-element super-block, a K-quant cannot store this row`);
    out.push(` Intra-row std of group means (avg across rows): ${fx(g.intraRowGroupMeanStd, 6)}`);
    out.push(` Group mean sign (|mean| > ${sci(s.threshold, 2)}): ${fx(s.positivePct, 1)}% positive, ${fx(s.negativePct, 1)}% negative, ${fx(s.nearZeroPct, 1)}% near zero`);
  }

  header(out, "SECTION 8: THE SWIGLU EFFECT — ffn_down ACTIVATION STRUCTURE");
  const s8 = r.section8;
  if (!s8.available || !s8.dims) out.push(` ${s8.note ?? "skipped"}`);
  else {
    if (s8.note) out.push(` note: ${s8.note}`);
    out.push(` FFN input (RMSNorm output): (${s8.ffnInputShape?.join(", ")}); SwiGLU output: (${s8.swigluShape?.join(", ")})`);
    for (const t of s8.tokens) {
      out.push("", ` Token ${t.token}:`);
      out.push(` FFN input: mean=${fx(t.ffnInput.mean, 6)}, std=${fx(t.ffnInput.std, 6)}, |max|=${fx(t.ffnInput.absMax, 6)}, near-zero=${fx(t.ffnInput.nearZeroFraction, 3)}`);
      out.push(` SwiGLU out: mean=${fx(t.swiglu.mean, 6)}, std=${fx(t.swiglu.std, 6)}, |max|=${fx(t.swiglu.absMax, 6)}, near-zero=${fx(t.swiglu.nearZeroFraction, 3)}, negative=${fx(t.swigluNegativeFraction, 3)}`);
    }
    const a = s8.allTokens;
    if (a) out.push("", ` All ${a.tokens} tokens: near-zero (|x| < 0.01·token std) FFN input=${fx(a.ffnInputNearZero, 3)}, SwiGLU=${fx(a.swigluNearZero, 3)}; SwiGLU negative=${fx(a.swigluNegative, 3)}`);
    const d = s8.dims;
    out.push("", ` Dimension-level SwiGLU properties:`);
    out.push(` Dim mean range: [${fx(d.meanMin, 6)}, ${fx(d.meanMax, 6)}]`);
    out.push(` Dim std range: [${fx(d.stdMin, 6)}, ${fx(d.stdMax, 6)}]`);
    out.push(` Dim negative fraction (sign balance, not sparsity): mean=${fx(d.negativeFraction.mean, 3)}, range=[${fx(d.negativeFraction.min, 3)}, ${fx(d.negativeFraction.max, 3)}]`);
    out.push(` Dims negative on >70% of tokens: ${d.dimsNegativeAbove70}/${d.count}; on <30%: ${d.dimsNegativeBelow30}/${d.count}`);
    out.push(` Sparsity (|x| < 0.01 × its dimension's RMS): ${fx(d.nearZeroFraction, 4)}`);
  }

  header(out, `SECTION 9: MATMUL ERROR DECOMPOSITION BY 256-COLUMN SUPER-BLOCK (${r.quantizer.name}, ${rows(r.sampling.section9Rows)})`);
  for (const s of r.section9.skipped) out.push(` ${s}`);
  for (const b of r.section9.tensors) {
    out.push("", ` ${b.name} × ${b.activation}: ${b.superBlocks} super-blocks${b.tailColumns ? ` (+${b.tailColumns} tail columns not in any)` : ""}`);
    if (b.note) out.push(` note: ${b.note}`);
    if (b.superBlocks === 0 || b.weightMse.mean === null) continue;
    out.push(` act_power: mean=${sci(b.actPower.mean)}, std=${sci(b.actPower.std)}, range=[${sci(b.actPower.min)}, ${sci(b.actPower.max)}]`);
    out.push(` weight_mse: mean=${sci(b.weightMse.mean)}, range=[${sci(b.weightMse.min)}, ${sci(b.weightMse.max)}]`);
    out.push(` correlation sqrt(act_power) ↔ sqrt(weight_mse): ${b.correlation === null ? "undefined (fewer than 2 blocks or a constant series)" : fx(b.correlation, 4)}`);
    out.push(` mean per-element E[x²]·mse: ${sci(b.meanElementProduct)}`);
    out.push(` Top super-blocks by act_power × weight_mse:`);
    for (const t of b.top) out.push(`  SB ${t.startCol}-${t.endCol}: act_power=${sci(t.actPower)}, weight_mse=${sci(t.weightMse)}, product=${sci(t.contrib)}`);
  }
  out.push("", RULE, `STUDY COMPLETE (${fx(r.elapsedMs / 1000, 2)} s)`, RULE);
  return out.join("\n") + "\n";
}
