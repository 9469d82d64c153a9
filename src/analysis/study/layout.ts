// The study's folder layout: which files it reads, under which keys, and which
// activation feeds which weight. Keys and seed labels are the study's own.

export interface WeightSpec {
  /** Study key, e.g. "ffn_down". */
  readonly key: string;
  readonly file: string;
  /** The study's description (direction labels swapped for gate/up, defect 2). */
  readonly seedLabel: string;
  /** Activation key of this weight's input. */
  readonly input: string;
}

export interface ActivationSpec {
  /** Study key, e.g. "ffn_down_input (swiglu)". */
  readonly key: string;
  /** Short kind used on the command line (--activation KIND=PATH). */
  readonly kind: string;
  readonly file: string;
}

export const ACT_FFN_INPUT = "ffn_input (gate/up)";
export const ACT_SWIGLU = "ffn_down_input (swiglu)";
export const ACT_ATTN_INPUT = "attn_input (q/k/v)";
export const ACT_ATTN_OUTPUT_INPUT = "attn_output_input";

export const WEIGHTS: readonly WeightSpec[] = [
  { key: "ffn_gate", file: "blk_0_ffn_gate_weight.f32bin", seedLabel: "9728x2560 (wide→narrow proj)", input: ACT_FFN_INPUT },
  { key: "ffn_up", file: "blk_0_ffn_up_weight.f32bin", seedLabel: "9728x2560 (wide→narrow proj)", input: ACT_FFN_INPUT },
  { key: "ffn_down", file: "blk_0_ffn_down_weight.f32bin", seedLabel: "2560x9728 (narrow→wide proj)", input: ACT_SWIGLU },
  { key: "attn_q", file: "blk_0_attn_q_weight.f32bin", seedLabel: "4096x2560", input: ACT_ATTN_INPUT },
  { key: "attn_k", file: "blk_0_attn_k_weight.f32bin", seedLabel: "1024x2560", input: ACT_ATTN_INPUT },
  { key: "attn_v", file: "blk_0_attn_v_weight.f32bin", seedLabel: "1024x2560", input: ACT_ATTN_INPUT },
  { key: "attn_out", file: "blk_0_attn_output_weight.f32bin", seedLabel: "2560x4096", input: ACT_ATTN_OUTPUT_INPUT },
];

export const ACTIVATIONS: readonly ActivationSpec[] = [
  { key: ACT_FFN_INPUT, kind: "ffn_input", file: "act_blk0_ffn_input.f32bin" },
  { key: ACT_SWIGLU, kind: "ffn_down_input", file: "act_blk0_ffn_down_input.f32bin" },
  { key: ACT_ATTN_INPUT, kind: "attn_input", file: "act_blk0_attn_input.f32bin" },
  { key: ACT_ATTN_OUTPUT_INPUT, kind: "attn_output_input", file: "act_blk0_attn_output_input.f32bin" },
];

/** Weights the study pairs with activations in sections 6 and 7, in its order. */
export const SEED_FOCUS = ["ffn_down", "ffn_gate", "ffn_up", "attn_q"] as const;
/** Weights of section 9, in the study's order. */
export const SEED_SECTION9 = ["ffn_down", "ffn_gate"] as const;

/** Accepts "attn_output" as an alias of the study's "attn_out". */
export function weightKey(name: string): string {
  return name === "attn_output" ? "attn_out" : name;
}

/** Activation key for a CLI kind ("ffn_down_input") or a full key. */
export function activationKeyForKind(kind: string): string {
  const k = kind.replace(/_input$/, "_input");
  const spec = ACTIVATIONS.find((a) => a.kind === k || a.key === kind);
  return spec ? spec.key : kind;
}

/** "rows x cols (cols→rows, in→out)": the true direction of a weight (defect 2 fixed). */
export function directionLabel(rows: number, cols: number): string {
  return `${rows}x${cols} (in ${cols} → out ${rows})`;
}
