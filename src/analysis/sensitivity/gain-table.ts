// quantscope's sensitivity model: the predicted KL divergence (nats/token) of
// the next-token distribution when one tensor alone is quantized.
//
// Shape of the model (see docs/sweep.md): to first order the KL is quadratic
// in the logit perturbation, and the perturbation is linear in the tensor's
// output error, so
//     KL ≈ gain(kind, depth) · r²,    r = ‖X(W−Ŵ)ᵀ‖_F / ‖XWᵀ‖_F
// where r is the tensor's relative output error (measured on activations or
// estimated from the imatrix) and gain says how strongly a relative error in
// this kind of tensor, at this depth, reaches the logits: errors written
// straight into the residual stream (attn_output, ffn_down) pass through every
// later RMSNorm; q/k errors are damped by the softmax; the output head
// perturbs logits directly; in models with QK-norm (Qwen3) q/k errors are
// partly normalised away, so attn_q / attn_k have their own "+qknorm" gains.
// log gain = a_key + b_key · depth, depth = layer/(nLayers−1) in [0, 1].
// The coefficients were fitted by least squares in log space on measured
// single-tensor KLs (reference forward pass, src/model/forward) of
// stories260K (llama) and tinyqwen (qwen3) jointly, with one free offset per
// model (centred); see sensitivity/fit.ts and docs/sweep.md for the
// validation figures, including fits on one model tested on the other.
// A sweep multiplies every prediction by one factor per model, its scale S
// (MODEL_SCALE_LOG below, sensitivity/energy.ts), which fixes the level on
// models outside the fit and changes no ranking.

export interface SensitivityInput {
  readonly kind: string;
  readonly layer: number | null;
  readonly nLayers: number;
  /** Relative output error r (not squared). */
  readonly outputRelErr: number;
  /** Where r came from: "none" (weight-space relRmse) has its own gain table. */
  readonly source?: "activations" | "imatrix" | "none";
  /** The model normalises q and k per head (Qwen3's attn_q_norm / attn_k_norm). */
  readonly qkNorm?: boolean;
  /**
   * The model's scale S (sensitivity/energy.ts modelScale: logit variance × mean reach of its
   * matrices) and what its energies came from; when given, the prediction is multiplied by
   * S · exp(MODEL_SCALE_LOG[scaleFrom]) (see modelScaleFactor).
   */
  readonly modelScale?: number;
  readonly scaleFrom?: "imatrix" | "weights";
}

/** Gain-table key of a tensor kind. */
export function gainKey(kind: string, qkNorm: boolean): string {
  return qkNorm && (kind === "attn_q" || kind === "attn_k") ? `${kind}+qknorm` : kind;
}

export interface GainCoefficients {
  /** log gain at depth 0. */
  readonly a: number;
  /** Change of log gain from the first to the last layer. */
  readonly b: number;
}

/**
 * Fitted coefficients per gain key (natural log), for r = outputRelErr from
 * the imatrix estimate (also used with activations). Fitted jointly on
 * stories260K (5 layers, 160 records) and tinyqwen (6 layers, 176 records)
 * with a per-model offset, centred (the models differ by a factor 10^±0.22
 * in overall sensitivity). Keys with "+qknorm" apply to models with QK-norm.
 */
export const GAIN: Readonly<Record<string, GainCoefficients>> = {
  "attn_q": { a: -2.406, b: -0.312 },
  "attn_k": { a: -0.998, b: -0.072 },
  "attn_v": { a: -2.476, b: 0.845 },
  "attn_output": { a: -2.318, b: -0.169 },
  "ffn_gate": { a: -1.995, b: 1.141 },
  "ffn_up": { a: -2.020, b: 0.963 },
  "ffn_down": { a: -1.189, b: -0.420 },
  "output": { a: 0.418, b: 0.000 },
  "token_embd": { a: -1.329, b: 0.000 },
  "other": { a: -1.500, b: 0.000 },
  "attn_q+qknorm": { a: -3.300, b: 0.817 },
  "attn_k+qknorm": { a: -2.835, b: 0.388 },
};

/** Relative depth in [0, 1] (0 for tensors outside the blocks). */
export function depthOf(layer: number | null, nLayers: number): number {
  if (layer === null || nLayers <= 1) return 0;
  return Math.min(1, Math.max(0, layer / (nLayers - 1)));
}

/** log gain of a tensor kind at a layer. */
export function logGain(kind: string, layer: number | null, nLayers: number, table: Readonly<Record<string, GainCoefficients>> = GAIN): number {
  const c = table[kind] ?? table[kind.replace("+qknorm", "")] ?? table.other!;
  return c.a + c.b * depthOf(layer, nLayers);
}

/** Gains for r = weight-space relRmse (no imatrix, no activations); fitted on the same measurements. */
export const GAIN_WEIGHTS: Readonly<Record<string, GainCoefficients>> = {
  "attn_q": { a: -2.547, b: -0.396 },
  "attn_k": { a: -1.383, b: -0.075 },
  "attn_v": { a: -2.222, b: 0.733 },
  "attn_output": { a: -2.351, b: -0.122 },
  "ffn_gate": { a: -2.001, b: 1.140 },
  "ffn_up": { a: -2.016, b: 0.954 },
  "ffn_down": { a: -1.532, b: -0.012 },
  "output": { a: 0.414, b: 0.000 },
  "token_embd": { a: -1.333, b: 0.000 },
  "other": { a: -1.500, b: 0.000 },
  "attn_q+qknorm": { a: -3.420, b: 0.988 },
  "attn_k+qknorm": { a: -3.416, b: 1.019 },
};

/**
 * Gains for r measured on real activations (`--activations`): the imatrix
 * estimate ignores input correlations and overstates q/k errors up to ~2.5×,
 * so the same fit on activation-measured r (stories260K blocks 0–4,
 * tinyqwen blocks 0 and 3: 206 records) gives its own table; output and
 * token_embd (no activations) keep GAIN's values.
 */
export const GAIN_ACTIVATIONS: Readonly<Record<string, GainCoefficients>> = {
  ...GAIN,
  "attn_q": { a: -0.626, b: -0.710 },
  "attn_k": { a: 1.005, b: -0.296 },
  "attn_v": { a: -2.299, b: 0.670 },
  "attn_output": { a: -2.274, b: -0.027 },
  "ffn_gate": { a: -1.495, b: 0.813 },
  "ffn_up": { a: -1.622, b: 0.903 },
  "ffn_down": { a: -0.371, b: -1.337 },
  "attn_q+qknorm": { a: -2.647, b: 0.493 },
  "attn_k+qknorm": { a: -1.647, b: -0.160 },
};

/**
 * The model-level scale of the fallback (docs/sweep.md, "Fallback without calibration"). The gain
 * tables describe the average of the two models they were fitted on; on other models their overall
 * level was off by up to a factor 20 (held out). Multiplying by S = σ_z² · mean reach
 * (sensitivity/energy.ts: how strongly a typical relative error in this model's matrices moves its
 * logits, from the weights and the imatrix alone) and one fitted constant per energy source brings
 * the held-out median error to a factor ~3. A model-level factor leaves every ranking and plan of a
 * model unchanged. The constants (natural log) make the scaled prediction unbiased on average over
 * stories260K, tinyqwen and two random-weight qwen3 (scripts/validate/fallback.ts).
 */
export const MODEL_SCALE_LOG: Readonly<Record<"imatrix" | "weights", number>> = { imatrix: 0.562, weights: 0.506 };

/**
 * How well the scaled gain table did on models it was not fitted on (leave one of four models out,
 * docs/sweep.md): the range over the held-out models of the within-type Spearman and of the factor
 * 10^median|log10(pred/measured)|. Recomputed from the measurements by test/sensitivity-fallback.test.ts.
 */
export const FALLBACK_HELD_OUT = {
  imatrix: { within: [0.10, 0.90], factor: [2.9, 3.6] },
  weights: { within: [0.09, 0.90], factor: [2.8, 3.8] },
} as const;

/** The factor a model's scale S applies to the gain table's prediction (1 without S). */
export function modelScaleFactor(modelScale: number | undefined, from: "imatrix" | "weights" = "imatrix"): number {
  return modelScale !== undefined && modelScale > 0 && Number.isFinite(modelScale) ? modelScale * Math.exp(MODEL_SCALE_LOG[from]) : 1;
}

/** Predicted KL (nats/token) for quantizing this tensor alone. */
export function predictKl(x: SensitivityInput, table?: Readonly<Record<string, GainCoefficients>>): number {
  const r2 = x.outputRelErr * x.outputRelErr;
  if (!Number.isFinite(r2)) return NaN;
  const t = table ?? (x.kind === "output" || x.kind === "token_embd" ? GAIN
    : x.source === "none" ? GAIN_WEIGHTS : x.source === "activations" ? GAIN_ACTIVATIONS : GAIN);
  return Math.exp(logGain(gainKey(x.kind, x.qkNorm ?? false), x.layer, x.nLayers, t)) * r2 * modelScaleFactor(x.modelScale, x.scaleFrom);
}
