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
// perturbs logits directly. log gain = a_kind + b_kind · depth, depth =
// layer/(nLayers−1) in [0, 1]. The coefficients were fitted by least squares
// in log space on measured single-tensor KLs (reference forward pass,
// src/analysis/forward) of tinyqwen (qwen3) and checked on stories260K
// (llama); validation figures are in docs/sweep.md.

export interface SensitivityInput {
  readonly kind: string;
  readonly layer: number | null;
  readonly nLayers: number;
  /** Relative output error r (not squared). */
  readonly outputRelErr: number;
  /** Where r came from: "none" (weight-space relRmse) has its own gain table. */
  readonly source?: "activations" | "imatrix" | "none";
}

export interface GainCoefficients {
  /** log gain at depth 0. */
  readonly a: number;
  /** Change of log gain from the first to the last layer. */
  readonly b: number;
}

/** Fitted coefficients per tensor kind (natural log). Replaced by calibrate-sensitivity output. */
export const GAIN: Readonly<Record<string, GainCoefficients>> = {
  attn_q: { a: -2.5, b: 0 },
  attn_k: { a: -2.5, b: 0 },
  attn_v: { a: -1.0, b: 0 },
  attn_output: { a: -1.0, b: 0 },
  ffn_gate: { a: -1.5, b: 0 },
  ffn_up: { a: -1.5, b: 0 },
  ffn_down: { a: -1.0, b: 0 },
  output: { a: 0, b: 0 },
  token_embd: { a: -1.0, b: 0 },
  other: { a: -1.5, b: 0 },
};

/** Relative depth in [0, 1] (0 for tensors outside the blocks). */
export function depthOf(layer: number | null, nLayers: number): number {
  if (layer === null || nLayers <= 1) return 0;
  return Math.min(1, Math.max(0, layer / (nLayers - 1)));
}

/** log gain of a tensor kind at a layer. */
export function logGain(kind: string, layer: number | null, nLayers: number, table: Readonly<Record<string, GainCoefficients>> = GAIN): number {
  const c = table[kind] ?? table.other!;
  return c.a + c.b * depthOf(layer, nLayers);
}

/** Gains for r = weight-space relRmse (no imatrix, no activations); fitted on the same measurements. */
export const GAIN_WEIGHTS: Readonly<Record<string, GainCoefficients>> = GAIN;

/** Predicted KL (nats/token) for quantizing this tensor alone. */
export function predictKl(x: SensitivityInput, table?: Readonly<Record<string, GainCoefficients>>): number {
  const r2 = x.outputRelErr * x.outputRelErr;
  if (!Number.isFinite(r2)) return NaN;
  const t = table ?? (x.source === "none" && x.kind !== "output" && x.kind !== "token_embd" ? GAIN_WEIGHTS : GAIN);
  return Math.exp(logGain(x.kind, x.layer, x.nLayers, t)) * r2;
}
