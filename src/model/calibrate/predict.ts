// Predicted single-tensor KL from calibration statistics (docs/sensitivity.md).
// To second order, quantizing W (rows o, columns j) to Ŵ = W − E changes the
// logits by J·(E x) and KL(p‖q) ≈ ½ E_ŷ[(Σ_t g_tᵀ E x_t)²] / T, with g the
// gradient of the log-likelihood of labels ŷ drawn from the model itself.
// Treating the quantization errors as zero-mean and uncorrelated between
// entries and positions, and g_o² independent of x_j² over tokens, gives
//   KL ≈ ½ Σ_o Σ_j ḡ²_o · x̄²_j · E_oj²     (ḡ², x̄²: means per token)
// with no fitted constant. token_embd (a row lookup) gets
//   KL ≈ ½ Σ_v r_v Σ_j c_j E_vj²,  r_v = Σ_{t: id_t = v} E‖g_t‖² / T,  c_j = share of column j,
// plus the head term when it doubles as the output head (tied embeddings).
// An expert tensor (3-D, experts stacked along the rows) is the sum over its
// experts of each expert's term, with that expert's own row and column
// statistics and its own quantization error.
import { FALLBACK_HELD_OUT } from "../../analysis/sensitivity/gain-table.js";
import type { CalibData } from "./calib-file.js";
import { EMBED } from "./collect.js";

/**
 * "fisher": F_oj ≈ R_o·C_j/ΣC from the row and column sums of the squared
 * whole-chunk weight gradient (keeps the correlation of g·x across positions);
 * "diagonal": F_oj ≈ ḡ²_o·x̄²_j·T (positions treated as independent).
 */
export type CalibMode = "fisher" | "diagonal";

/**
 * One rank-one term of the per-entry Fisher approximation F_rc = row[r] · col[c];
 * for an expert tensor (`groupRows` rows per expert) F_rc = row[r] · col[e·cols + c], e = ⌊r / groupRows⌋.
 */
export interface CalibTerm {
  readonly row: Float32Array;
  readonly col: Float32Array;
  readonly groupRows?: number;
}

/** What a tensor's prediction needs: one term, two for tied embeddings. */
export interface TensorCalib {
  readonly terms: readonly CalibTerm[];
}

/** The terms of a tensor, or null when the calibration file has no statistics for it (the gain table is then used). */
export function tensorCalib(calib: CalibData, name: string, rows: number, cols: number, mode: CalibMode = "fisher"): TensorCalib | null {
  const terms: CalibTerm[] = [];
  const x = calib.inMean2.get(name), g = calib.gradMean2.get(name), f = calib.fisher.get(name);
  const groups = calib.experts?.get(name) ?? 1;
  if (rows % groups !== 0) return null;
  const grouped = groups > 1 ? { groupRows: rows / groups } : {};
  if (f && mode === "fisher") {
    if (f.cols.length !== cols * groups || f.rows.length !== rows) return null;
    terms.push({ row: f.rows, col: f.cols, ...grouped });
  } else if (x && g) {
    if (x.length !== cols * groups || g.length !== rows) return null;
    terms.push({ row: g, col: x, ...grouped });
  }
  const fe = calib.fisher.get(EMBED);
  if (name === "token_embd.weight" && fe && mode === "fisher") {
    if (fe.rows.length !== rows || fe.cols.length !== cols) return null;
    terms.push({ row: fe.rows, col: fe.cols });
  } else if (name === "token_embd.weight") {
    if (!calib.embRow || !calib.embCol || calib.embRow.length !== rows || calib.embCol.length !== cols) return null;
    terms.push({ row: calib.embRow, col: calib.embCol });
  }
  return terms.length ? { terms } : null;
}

/**
 * Adds ½ Σ_terms row[r] Σ_c col[c] (W − Ŵ)²_rc for each of k data rows into
 * per[at + i] (`rows[i]` = tensor row of data row i).
 */
export function addCalibRows(calib: TensorCalib, W: Float32Array, Wq: Float32Array, rows: ArrayLike<number>, k: number, cols: number, per: Float64Array, at = 0): void {
  for (const { row, col, groupRows } of calib.terms) {
    for (let i = 0; i < k; i++) {
      const o = i * cols, c0 = groupRows ? Math.floor(rows[i]! / groupRows) * cols : 0;
      let s = 0;
      for (let j = 0; j < cols; j++) { const e = W[o + j]! - Wq[o + j]!; s += col[c0 + j]! * e * e; }
      per[at + i] += 0.5 * row[rows[i]!]! * s;
    }
  }
}

/** The prediction from per-row terms over k measured rows: totalRows × their mean, with a 95 % interval when rows were sampled. */
export function calibTotal(per: Float64Array, totalRows: number): { value: number; lo: number; hi: number } {
  const k = per.length;
  let sum = 0;
  for (let i = 0; i < k; i++) sum += per[i]!;
  const value = (sum * totalRows) / k;
  if (k >= totalRows || k < 2) return { value, lo: value, hi: value };
  const mean = sum / k;
  let v = 0;
  for (let i = 0; i < k; i++) v += (per[i]! - mean) ** 2;
  const se = totalRows * Math.sqrt(((1 - k / totalRows) * v) / (k - 1) / k);
  return { value, lo: Math.max(0, value - 1.96 * se), hi: value + 1.96 * se };
}

/**
 * ½ Σ_terms Σ_r row[r] Σ_c col[c] (W − Ŵ)²_rc over the measured rows
 * (`rows[i]` = tensor row of data row i); when rows were sampled, the
 * estimate totalRows × mean over the sampled rows, with a 95 % interval.
 */
export function predictKlFromCalib(calib: TensorCalib, W: Float32Array, Wq: Float32Array, rows: Int32Array, cols: number, totalRows: number): { value: number; lo: number; hi: number } {
  const per = new Float64Array(rows.length);
  addCalibRows(calib, W, Wq, rows, rows.length, cols, per);
  return calibTotal(per, totalRows);
}

/** One line saying what predicted the records' KL (for sweep and plan notes); null when no record says. */
export function predSourceNote(records: readonly { tensor: string; skipped?: string; sensitivitySource?: string; sensitivityScale?: number }[]): string | null {
  const by = new Map<string, Set<string>>();
  for (const r of records) {
    if (r.skipped || !r.sensitivitySource) continue;
    const key = r.sensitivityScale !== undefined && r.sensitivitySource !== "calib" ? `${r.sensitivitySource}+scaled` : r.sensitivitySource;
    const s = by.get(key) ?? new Set<string>();
    s.add(r.tensor);
    by.set(key, s);
  }
  if (by.size === 0) return null;
  const label: Record<string, string> = {
    calib: "calibration statistics (docs/sensitivity.md)", activations: "gain table on activation errors", imatrix: "gain table on imatrix errors", weights: "gain table on weight errors",
    "imatrix+scaled": "gain table on imatrix errors, scaled to this model", "weights+scaled": "gain table on weight errors, scaled to this model",
    "activations+scaled": "gain table on activation errors, scaled to this model",
  };
  // the scaled gain table's accuracy on models it was not fitted on, once, so a user without calibration knows what to expect
  const h = by.has("imatrix+scaled") ? FALLBACK_HELD_OUT.imatrix : by.has("weights+scaled") ? FALLBACK_HELD_OUT.weights : null;
  const held = h ? `; without calibration, on models it was not fitted on: within-type Spearman ${h.within[0].toFixed(2)}–${h.within[1].toFixed(2)}, half the predictions within a factor ${h.factor[0].toFixed(1)}–${h.factor[1].toFixed(1)} (docs/sweep.md)` : "";
  return "predicted KL from " + [...by].map(([k, s]) => `${label[k] ?? k} for ${s.size} tensor${s.size > 1 ? "s" : ""}`).join(", ") + held;
}
