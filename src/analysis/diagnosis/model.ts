// What the report needs to know about a model, independent of how it was
// measured: the study, the sweep and the plan are adapted into these shapes
// (report-collect.ts), and the diagnosis, the charts and the Markdown read only
// these. Series are already reduced (binned, downsampled) where noted, so the
// HTML stays small whatever the model size.

import type { SweepRecord } from "../sweep/types.js";
import type { ExpertTensorEvidence } from "./experts-evidence.js";

/** Equal-width histogram: counts[i] covers [lo + i*width, lo + (i+1)*width). */
export interface Histogram {
  readonly lo: number;
  readonly width: number;
  readonly counts: number[];
}

export interface WeightSummary {
  readonly count: number;
  readonly mean: number;
  readonly std: number;
  readonly min: number;
  readonly max: number;
  readonly excessKurtosis: number;
  readonly histogram: Histogram;
}

/** Per input column activation statistics (from real activations or an imatrix). */
export interface ActivationEvidence {
  /** "activations": f32bin rows of real inputs; "imatrix": E[x^2] from llama-imatrix. */
  readonly source: "activations" | "imatrix";
  /** Name of the activation set / file it came from. */
  readonly label: string;
  /** Tokens behind the statistics (imatrix: its token count). */
  readonly tokens: number;
  /** E[x_j^2] for each input column j (the "activation power"). */
  readonly colPower: Float64Array;
}

/** How a tensor's weights quantize at one reference type, column by column. */
export interface ColumnErrorEvidence {
  /** Type the error was measured with, e.g. "Q2_K" (or llama-quantize's fallback for short rows). */
  readonly type: string;
  /** Mean over rows of (W - What)^2 for each input column. */
  readonly colMse: Float64Array;
  /** Mean over rows of W^2 for each input column (to make errors relative). */
  readonly colMeanSquare: Float64Array;
}

/** Weight MSE on a coarse grid of row bands x column blocks (for the heat map). */
export interface BlockErrorEvidence {
  readonly type: string;
  /** Columns per block (a k-quant super-block of 256, or 32 for short rows). */
  readonly colBlock: number;
  /** Rows per band. */
  readonly rowBand: number;
  readonly nColBlocks: number;
  readonly nRowBands: number;
  /** Mean (W - What)^2 per cell, row-band major (nRowBands x nColBlocks). */
  readonly mse: Float64Array;
}

/** 2-bit error with and without a per-group offset (the study's section 3, default mode). */
export interface OffsetEvidence {
  readonly groupSize: number;
  /** Symmetric 2-bit levels, no offset. */
  readonly rmseScaleOnly: number;
  /** Affine 2-bit levels (a per-group min). */
  readonly rmseWithOffset: number;
  /** Share of groups whose |mean| / range exceeds 0.2 (the study's "offset importance"). */
  readonly groupsOffsetAbove02: number | null;
}

/** One point of a tensor's error-vs-size curve (one sweep record, see src/analysis/sweep/types.ts). */
export interface TypePoint {
  /** Type measured (llama-quantize's fallback when the row does not fit the requested one). */
  readonly type: string;
  readonly requestedType: string;
  readonly bpw: number;
  /** rmse / rms(W). */
  readonly relRmse: number;
  /** Relative output error ‖X(W−Ŵ)ᵀ‖/‖XWᵀ‖ of the tensor quantized as llama-quantize would (with the importance when there is one). */
  readonly relOutputError: number;
  /** "activations" (measured), "imatrix" (diagonal estimate) or "none" (= relRmse). */
  readonly outputErrorSource: string;
  /** Whether the quantizer was given the importance (imatrix or activation power). */
  readonly usedImatrix: boolean;
  /** The same error with the importance withheld from the quantizer (measured at the low types only). */
  readonly relOutputErrorWithoutImatrix?: number;
  /** The sweep's predicted KL divergence when only this tensor is quantized to this type. */
  readonly sensitivity: number;
  /** What predicted it: "calib", or the gain table on the error from "activations" / "imatrix" / "weights". */
  readonly sensitivitySource?: string;
  /** Set when the prediction is uncertain (~): the range it spans (e.g. over model facts the source could not show). */
  readonly sensitivityRange?: readonly [number, number];
  /** Single-tensor KL measured with the reference forward pass (report --measure-kl). */
  readonly measuredKl?: number;
}

export interface TensorEvidence {
  /** Full tensor name, e.g. "blk.0.ffn_down.weight". */
  readonly name: string;
  /** Tensor class, e.g. "ffn_down", "attn_v". */
  readonly kind: string;
  /** Layer index when the name has one. */
  readonly layer?: number;
  readonly rows: number;
  readonly cols: number;
  readonly weight: WeightSummary;
  readonly activation?: ActivationEvidence;
  readonly columnError?: ColumnErrorEvidence;
  readonly blockError?: BlockErrorEvidence;
  readonly offset?: OffsetEvidence;
  /** Error vs bits-per-weight for each candidate type, sorted by bpw. */
  readonly curve: TypePoint[];
}

/** One row of a type plan or standard mix. */
export interface PlanEntry {
  readonly tensor: string;
  readonly type: string;
}

/** A per-tensor type assignment and what it costs (over the reported tensors only). */
export interface PlanSummary {
  /** e.g. "plan @ 4.5 bpw" or "Q4_K_M". */
  readonly label: string;
  /** "plan" for quantscope's allocation, "standard" for llama.cpp's mixes. */
  readonly kind: "plan" | "standard";
  /** For a plan: the standard mix whose size it matches. */
  readonly baseline?: string;
  readonly bpw: number;
  /** Total damage (single-tensor KLs summed: measured where measured, else predicted), when every assigned type was swept. */
  readonly predictedDamage?: number;
  /** Where the summed KLs came from (measured, calib, activations, imatrix, weights), and how many of them are uncertain (~). */
  readonly sources?: readonly string[];
  readonly uncertain?: number;
  readonly bytes: number;
  readonly entries: PlanEntry[];
}

export interface ReportData {
  /** What was analysed (path or model name). */
  readonly model: string;
  readonly tensors: TensorEvidence[];
  /** llama.cpp's standard mixes and quantscope's plans at a few budgets. */
  readonly plans: PlanSummary[];
  /** The sweep records behind the curves (one per tensor x type, importance given to the quantizer when available). */
  readonly records: SweepRecord[];
  /** Name of the imatrix file used, when given. */
  readonly imatrix?: string;
  /** The model facts the predictions used, in one line ("qwen3, 6 layers, QK-norm (from model.json (…))"). */
  readonly modelFacts?: string;
  /** One-line notes about what could not be measured and why. */
  readonly notes: string[];
  /** Mixture-of-experts tensors (3-D), per expert; absent or empty for dense models. */
  readonly experts?: ExpertTensorEvidence[];
  /** Seconds spent collecting the evidence. */
  readonly seconds?: number;
}
