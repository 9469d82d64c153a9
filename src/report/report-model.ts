// What the report needs to know about a model, independent of how it was
// measured: the study, the sweep and the plan are adapted into these shapes
// (report-collect.ts), and the diagnosis, the charts and the Markdown read only
// these. Series are already reduced (binned, downsampled) where noted, so the
// HTML stays small whatever the model size.

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
  /** Type the error was measured with, e.g. "Q2_K" (or "proxy-2bit" when no codec was available). */
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

/** 2-bit error with and without a per-group offset (the study's section 3 question). */
export interface OffsetEvidence {
  readonly groupSize: number;
  readonly rmseScaleOnly: number;
  readonly rmseWithOffset: number;
  /** Where the numbers come from, e.g. "study section 3" or "report proxy". */
  readonly source: string;
}

/** One point of a tensor's error-vs-size curve (one sweep record). */
export interface TypePoint {
  readonly type: string;
  readonly bpw: number;
  /** rmse / rms(W). */
  readonly relRmse: number;
  /** Relative output error ‖X(W−Ŵ)ᵀ‖/‖XWᵀ‖ (measured or estimated), when known. */
  readonly relOutputError?: number;
  /** The same with the imatrix used by the quantizer, when measured. */
  readonly relOutputErrorImatrix?: number;
  /** The sweep's sensitivity prediction, when known. */
  readonly sensitivity?: number;
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

/** A per-tensor type assignment and what it costs. */
export interface PlanSummary {
  /** e.g. "plan @ 4.5 bpw" or "Q4_K_M". */
  readonly label: string;
  /** "plan" for quantscope's allocation, "standard" for llama.cpp's mixes. */
  readonly kind: "plan" | "standard";
  readonly bpw: number;
  /** Predicted total damage (the sweep's sensitivity summed), when known. */
  readonly predictedDamage?: number;
  readonly entries: PlanEntry[];
}

export interface ReportData {
  /** What was analysed (path or model name). */
  readonly model: string;
  readonly tensors: TensorEvidence[];
  /** Plans at a few budgets and the standard mixes, when the planner ran. */
  readonly plans: PlanSummary[];
  /** Name of the imatrix file used, when given. */
  readonly imatrix?: string;
  /** One-line notes about what could not be measured and why. */
  readonly notes: string[];
  /** Seconds spent collecting the evidence. */
  readonly seconds?: number;
}
