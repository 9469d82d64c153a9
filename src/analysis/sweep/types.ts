// Result types of `quantscope sweep` (and the inputs of `plan`). Plain data:
// every record is JSON-serialisable as is, one record per (tensor, type).

import type { ShardInfo, SweepProvenance } from "./shards.js";

/** Where a tensor's relative output error came from. */
export type OutputErrorSource =
  /** ‖X(W−Ŵ)ᵀ‖_F / ‖XWᵀ‖_F on real activation rows X. */
  | "activations"
  /** Diagonal estimate from the imatrix: Σ_j v_j Σ_i ΔW_ij² / Σ_j v_j Σ_i W_ij² (v_j = E[x_j²]). */
  | "imatrix"
  /** No activations and no imatrix: the plain weight error ratio (relRmse²) stands in. */
  | "none";

/** A 95 % confidence interval [lo, hi] of an estimate made from sampled rows. */
export type Ci95 = readonly [number, number];

/** How one tensor fares under one quantization type. */
export interface SweepRecord {
  /** GGUF tensor name, e.g. "blk.3.ffn_down.weight". */
  readonly tensor: string;
  /** Role without the layer, e.g. "ffn_down", "attn_v", "output", "token_embd". */
  readonly kind: string;
  /**
   * Key of the sensitivity model's gain table: the kind, with "+qknorm" for
   * attn_q / attn_k of models with QK-norm (Qwen3), whose q/k errors are
   * partly normalised away.
   */
  readonly gainKey?: string;
  /** Layer index, or null for token_embd / output. */
  readonly layer: number | null;
  /** Number of layers of the model (for position-aware readers). */
  readonly nLayers: number;
  /** Output features (ggml ne1, rows of W). */
  readonly rows: number;
  /** Input features (ggml ne0, the row length). */
  readonly cols: number;
  /** The type that was asked for (a sweep candidate). */
  readonly requestedType: string;
  /** The type actually measured: requestedType, or llama-quantize's fallback when the row does not fit its block. */
  readonly type: string;
  /** True when `type` is a fallback of `requestedType` (ne0 not a multiple of its block size). */
  readonly fallback: boolean;
  /** Set when the tensor could not be measured for this type (then the metrics are NaN). */
  readonly skipped?: string;
  /** Bits per weight of `type`. */
  readonly bpw: number;
  /** Bytes of the whole tensor stored as `type`. */
  readonly bytes: number;
  /** sqrt(mean (W−Ŵ)²). */
  readonly rmse: number;
  /** rmse / rms(W). */
  readonly relRmse: number;
  /** max |W−Ŵ| (over the sampled rows when sampling: then a lower bound). */
  readonly maxAbsErr: number;
  /** Median |W−Ŵ| (exact order statistic, by selection). */
  readonly medianAbsErr: number;
  /** 95th percentile |W−Ŵ|. */
  readonly p95AbsErr: number;
  /** Σ_j v_j Σ_i (W−Ŵ)²_ij / (rows·cols), v_j = imatrix value (mean x_j²); null without an imatrix entry. */
  readonly imatrixMse: number | null;
  /** ‖X(W−Ŵ)ᵀ‖_F / ‖XWᵀ‖_F, measured or estimated (see outputErrorSource). */
  readonly outputRelErr: number;
  readonly outputErrorSource: OutputErrorSource;
  /**
   * Predicted KL divergence (nats per token, mean over positions) of the
   * model's next-token distribution when only this tensor is quantized to
   * `type`. See src/analysis/sensitivity/gain-table.ts and docs/sweep.md.
   */
  readonly sensitivity: number;
  /** What predicted `sensitivity`: calibration statistics (docs/sensitivity.md) or the gain table (scaled to the model, sensitivityScale) on outputRelErr from activations / imatrix / weights. */
  readonly sensitivitySource?: "calib" | "activations" | "imatrix" | "weights";
  /**
   * The model-level factor the gain table's prediction was multiplied by (S · exp(MODEL_SCALE_LOG),
   * sensitivity/gain-table.ts / sensitivity/energy.ts); absent when the model's energies could not be computed.
   */
  readonly sensitivityScale?: number;
  /**
   * KL divergence actually measured with quantscope's reference forward pass
   * (only with `sweep --measure-kl`, small llama/qwen models).
   */
  readonly measuredKl?: number;
  /** Whether the imatrix was passed to the quantizer for this record. */
  readonly usedImatrix: boolean;
  /** Fraction of rows measured (1 = exact). */
  readonly sampleFraction: number;
  /**
   * 3-D expert tensors (blk.N.ffn_{gate,up,down}_exps): each expert's slice,
   * quantized as llama-quantize does (slice by slice, with that expert's
   * imatrix vector). The record's own metrics are over all experts.
   */
  readonly experts?: readonly ExpertMetrics[];
  /**
   * Set when `sensitivity` is uncertain beyond the gain table's own error: a gain
   * not fitted for this kind of tensor (expert tensors without calibration statistics:
   * no MoE model was in the fit), or model facts the source could not show (a folder without
   * model.json: layer count, QK-norm); says why and the range.
   */
  readonly sensitivityBasis?: SensitivityBasis;
  /** 95 % confidence intervals of the sampled estimates (only when sampleFraction < 1). */
  readonly ci95?: {
    readonly rmse: Ci95;
    readonly relRmse: Ci95;
    readonly imatrixMse?: Ci95;
    readonly outputRelErr: Ci95;
    readonly sensitivity: Ci95;
    readonly medianAbsErr: Ci95;
    readonly p95AbsErr: Ci95;
  };
}

/** One expert's slice of a 3-D expert tensor under one type. */
export interface ExpertMetrics {
  readonly expert: number;
  /** Rows of this expert that were measured (ne1 when exact). */
  readonly rows: number;
  /** Tokens routed to this expert in the imatrix's calibration (its counts), or null without an imatrix. */
  readonly tokens: number | null;
  readonly rmse: number;
  readonly relRmse: number;
  readonly maxAbsErr: number;
  /** With this expert's imatrix vector; null without an imatrix. */
  readonly imatrixMse: number | null;
  /** Imatrix estimate of the expert's relative output error (relRmse without an imatrix). */
  readonly outputRelErr: number;
  /** With calibration statistics: this expert's term of the predicted KL (the record's sensitivity is their sum). */
  readonly predKl?: number;
}

export interface SensitivityBasis {
  /** The gain used, e.g. "ffn_down (dense FFN gain)". */
  readonly gain: string;
  /** false: not fitted on any model of this kind. */
  readonly fitted: boolean;
  /** The prediction is believed within this factor either way (a judgement, not a fitted interval). */
  readonly uncertaintyFactor: number;
  /** [sensitivity / factor, sensitivity × factor]. */
  readonly range: Ci95;
  readonly note: string;
  /** Set when the uncertainty comes from model facts the source could not show (sensitivity/model-facts.ts): the model.json fields that would settle it. */
  readonly missingFacts?: readonly string[];
}

/** A tensor the sweep did not quantize (1-D, not a weight matrix, filtered out…). */
export interface SweepPassenger {
  readonly tensor: string;
  /** Its type in the output file (F32 for norms; kept as is otherwise). */
  readonly type: string;
  readonly bytes: number;
  readonly elements: number;
  readonly reason: string;
}

export interface SweepResult {
  readonly model: string;
  readonly architecture: string;
  readonly nLayers: number;
  readonly types: readonly string[];
  readonly imatrix: string | null;
  readonly activations: string | null;
  readonly sampleFraction: number;
  readonly seed: number;
  readonly records: readonly SweepRecord[];
  /** Tensors not swept (norms etc.): they count towards a plan's file size. */
  readonly passengers: readonly SweepPassenger[];
  /** Human-readable notes (skips, fallbacks, approximations). */
  readonly notes: readonly string[];
  readonly seconds: number;
  /** Which part of the tensors this result holds (1/1 unless `sweep --shard K/N`). */
  readonly shard?: ShardInfo;
  /** Model identity, options and version, so shards can be checked against each other before merging. */
  readonly provenance?: SweepProvenance;
}

/** Candidate types of a sweep when --types is not given. */
export const DEFAULT_SWEEP_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"] as const;
