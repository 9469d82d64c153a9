// Typed results of the nine-section study (quantscope study). Plain data only:
// numbers, strings, arrays and nested objects, so a StudyResult round-trips
// through JSON unchanged. A value that is undefined for the data (e.g. a
// correlation of a constant series, a mean of zero items) is `null`, never
// NaN/Infinity (JSON cannot carry those).
//
// Both modes fill the same types:
//  - "default": every row and token, the study's defects fixed (docs/corrections.md);
//  - "seed-compat": the original study's subsampling, 2-bit proxy and float32
//    accumulations, so its printed numbers can be reproduced line for line.

/** Mean / population std / min / max of a series (null when it is empty). */
export interface Summary {
  readonly mean: number | null;
  /** Population standard deviation (numpy's default, ddof = 0). */
  readonly std: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

/** Counts of non-finite values found in a tensor; they are excluded from every statistic. */
export interface NonFiniteCounts {
  readonly nan: number;
  readonly posInf: number;
  readonly negInf: number;
}

/** One percentile: p in percent (0..100), value by linear interpolation (numpy's default). */
export interface Percentile {
  readonly p: number;
  readonly value: number | null;
}

/** A file the study looked for, and what became of it. */
export interface StudyInput {
  /** "weight" rows are output features; "activation" rows are tokens. */
  readonly role: "weight" | "activation";
  /** Study key, e.g. "ffn_down" for weights or "ffn_down_input (swiglu)" for activations. */
  readonly key: string;
  readonly file: string;
  /** "loaded", "missing" (skipped with a note) or "error" (unreadable; the note says why). */
  readonly status: "loaded" | "missing" | "error";
  /** Shape from the header when known. */
  readonly rows: number | null;
  readonly cols: number | null;
  /** One line explaining a skip or error. */
  readonly note: string | null;
}

/** Which group quantizer sections 3, 6 and 9 used. */
export interface QuantizerInfo {
  /** "proxy" (fixed 2-bit model), "seed-proxy" (the study's exact model) or a ggml type name such as "Q2_K". */
  readonly name: string;
  /** One line saying what it models. */
  readonly description: string;
  /** Elements per quantization block (16 for the proxies, the type's block size otherwise). */
  readonly blockSize: number;
}

/** Rows / tokens each section used (the study subsamples; the default mode uses all: null = all). */
export interface Sampling {
  /** Section 3 rows per tensor (study: 256). */
  readonly section3Rows: number | null;
  /** Section 6 rows used for the per-column error (study: 256; its kurtosis/std use all rows). */
  readonly section6Rows: number | null;
  /** Section 7 rows (study: 64). */
  readonly section7Rows: number | null;
  /** Section 8 tokens shown individually (study: 3). */
  readonly section8Tokens: number;
  /** Section 9 rows (study: 128). */
  readonly section9Rows: number | null;
}

// ---------------------------------------------------------------- sections 1 and 4

/** Global distribution of one tensor (section 1 for weights, section 4 for activations). */
export interface DistributionStats {
  /** Study key, e.g. "ffn_gate" or "ffn_input (gate/up)". */
  readonly name: string;
  /** File name (base name) it was read from. */
  readonly file: string;
  /** Human description. Default mode: shape and true direction "in→out"; seed-compat: the study's label. */
  readonly description: string;
  readonly rows: number;
  readonly cols: number;
  /** Number of finite values the statistics are over. */
  readonly n: number;
  readonly nonFinite: NonFiniteCounts;
  readonly mean: number | null;
  /** Population std. */
  readonly std: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly median: number | null;
  /** |mean| / std: how large a global offset is relative to the spread. */
  readonly meanOverStd: number | null;
  /** Third standardized moment. */
  readonly skewness: number | null;
  /** Fourth standardized moment minus 3 (0 for a Gaussian; > 0 = heavy tails). */
  readonly excessKurtosis: number | null;
  /** p = 0.1, 1, 5, 25, 50, 75, 95, 99, 99.9. */
  readonly percentiles: readonly Percentile[];
  /** Fraction of values with |x| < 0.001 × std. */
  readonly nearZeroFraction: number | null;
}

export interface Section1 {
  readonly tensors: readonly DistributionStats[];
}

export interface Section4 {
  readonly tensors: readonly DistributionStats[];
}

// ---------------------------------------------------------------- section 2

/** Row-to-row variability of one weight (each row = one output neuron). */
export interface RowVariability {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  /** Distribution over rows of each row's mean. */
  readonly rowMeans: Summary;
  /** Distribution over rows of each row's (population) std. */
  readonly rowStds: Summary;
  /** Distribution over rows of each row's max − min (min/max also given). */
  readonly rowRanges: Summary;
  /** The study's "RowMeans CV" = std(row means) / (|mean(row means)| + 1e-10): divides by a near-zero mean, meaningless (defect 3). Kept for seed-compat. */
  readonly rowMeansCv: number | null;
  /** Replacement for rowMeansCv: std(row means) / mean(row stds) — how far row offsets move relative to a typical row's spread. */
  readonly rowMeanSpread: number | null;
  /** std(row stds) / mean(row stds). */
  readonly rowStdsCv: number | null;
  /** Rows that had at least one non-finite value (their finite values are used). */
  readonly rowsWithNonFinite: number;
}

export interface Section2 {
  readonly tensors: readonly RowVariability[];
}

// ---------------------------------------------------------------- section 3

/** A fraction of items above a threshold. */
export interface FractionAbove {
  readonly threshold: number;
  readonly fraction: number | null;
}

/** 16-element group statistics and 2-bit quantization error of one weight. */
export interface GroupStats {
  readonly name: string;
  /** Rows analysed (all rows in default mode, ≤ 256 in seed-compat). */
  readonly rowsUsed: number;
  /** Number of 16-element groups analysed. */
  readonly groups: number;
  /** Trailing columns that do not fill a 16-element group (the study used a short group; default mode ignores them for group stats and warns). */
  readonly tailColumns: number;
  readonly groupMean: Summary;
  readonly groupStd: Summary;
  readonly groupRange: Summary;
  /** Offset importance = |group mean| / (group max − group min); 0 for a constant group. */
  readonly offsetImportance: {
    readonly mean: number | null;
    readonly median: number | null;
    readonly p90: number | null;
    readonly max: number | null;
    /** thresholds 0.1, 0.2, 0.3 */
    readonly above: readonly FractionAbove[];
  };
  /** RMSE of the 2-bit model without a per-group offset (default: symmetric levels ±{1,3}·amax/3; seed-compat: the study's unsigned levels). */
  readonly rmseNoOffset: number | null;
  /** RMSE of the 2-bit model with a per-group offset (min/max affine, 4 levels). */
  readonly rmseWithOffset: number | null;
  /** (rmseNoOffset − rmseWithOffset) / rmseNoOffset × 100. */
  readonly offsetBenefitPct: number | null;
  /** RMSE of the selected group quantizer (--type) over the same rows; null when it could not run (reason in `quantNote`). */
  readonly quantRmse: number | null;
  /** Why quantRmse is null, or a caveat (e.g. tail columns excluded). */
  readonly quantNote: string | null;
}

export interface Section3 {
  readonly groupSize: number;
  readonly tensors: readonly GroupStats[];
}

// ---------------------------------------------------------------- section 5

/** A dimension (column) and a value. */
export interface DimValue {
  readonly dim: number;
  readonly value: number;
}

/** Per-column (input dimension) RMS of one activation over tokens. */
export interface ActivationPower {
  readonly name: string;
  readonly tokens: number;
  readonly dims: number;
  readonly colRms: Summary;
  /** std(col RMS) / mean(col RMS). */
  readonly cv: number | null;
  /** max col RMS / min col RMS (null when min is 0: a dead channel, defect 17). */
  readonly maxMinRatio: number | null;
  /** Dimensions with zero RMS (dead channels). */
  readonly deadDims: number;
  /** Highest-RMS dimensions, descending (5 shown by the study under a "Top-10" label). */
  readonly top: readonly DimValue[];
  /** Lowest-RMS dimensions, ascending. */
  readonly bottom: readonly DimValue[];
  /** Share (%) of total power sum(rms²) in the top 10 % of dimensions. */
  readonly top10PctPowerShare: number | null;
  /** Share (%) of total power in the top 1 % of dimensions (at least one dim). */
  readonly top1PctPowerShare: number | null;
}

export interface Section5 {
  readonly tensors: readonly ActivationPower[];
}

// ---------------------------------------------------------------- section 6

/** One input dimension's error ingredients. */
export interface DimErrorRow {
  readonly dim: number;
  /** RMS of the activation in this dimension over tokens. */
  readonly actRms: number;
  /** RMS over rows of the quantization error of the weights in this column. */
  readonly wRmse: number;
  /** actRms × wRmse (the study's "contribution"). */
  readonly contrib: number;
  /** Std of this weight column over all rows. */
  readonly wStd: number;
  /** Excess kurtosis of this weight column over all rows. */
  readonly wKurt: number;
}

/** Share (%) of a total held by the top `fraction` of dimensions. */
export interface TopShare {
  /** 0.01, 0.05, 0.10, 0.25 */
  readonly fraction: number;
  readonly sharePct: number | null;
}

/** Where weight quantization error meets activation power (one weight × its input). */
export interface ErrorMeetsPower {
  readonly name: string;
  /** Activation key used as this weight's input. */
  readonly activation: string;
  readonly dims: number;
  /** Rows whose quantization error was measured. */
  readonly rowsUsed: number;
  readonly actRmsMean: number | null;
  readonly actRmsCv: number | null;
  readonly wRmseMean: number | null;
  readonly wRmseCv: number | null;
  readonly contribMean: number | null;
  readonly contribStd: number | null;
  /** Pearson correlation of act RMS and w RMSE over dimensions; null when undefined (a constant series). */
  readonly correlation: number | null;
  /** Top dimensions by contrib, descending (5). */
  readonly topDims: readonly DimErrorRow[];
  /** Study metric: share of sum(actRms × wRmse) in the top dims (not a share of matmul error, defect 20). */
  readonly contribShares: readonly TopShare[];
  /** Corrected metric: share of the expected squared output error sum_d E[x_d²]·mse_d (errors add as variances) in the top dims. */
  readonly errorVarianceShares: readonly TopShare[];
  /** Expected squared matmul output error per output row, sum_d E[x_d²]·mse_d, under independent errors (null in seed-compat). */
  readonly expectedOutputMse: number | null;
  /** Caveat or skip reason (e.g. tail columns excluded, quantizer unavailable). */
  readonly note: string | null;
}

export interface Section6 {
  readonly tensors: readonly ErrorMeetsPower[];
  /** Weights that could not be paired (missing file, column mismatch), one line each. */
  readonly skipped: readonly string[];
}

// ---------------------------------------------------------------- section 7

/** Row-direction grouping structure and metadata cost of one weight. */
export interface RowGrouping {
  readonly name: string;
  readonly cols: number;
  /** Full 256-element super-blocks per row. */
  readonly superBlocksPerRow: number;
  /** Columns left over after the last full super-block (llama.cpp would refuse a K-quant of such a row). */
  readonly superBlockTail: number;
  /** 16-element groups per row (floor). */
  readonly groupsPerRow: number;
  /** Study's figure: 2 bytes per super-block (wrong, defect 23). */
  readonly studyMetadataBytesPerRow: number;
  /** Q2_K metadata per row: 20 bytes per super-block (16 packed 4-bit scale/min bytes + fp16 d + fp16 dmin). */
  readonly q2kMetadataBytesPerRow: number;
  /** Q2_K bits per weight for this row length (84 bytes per 256 weights = 2.625 when the row is a multiple of 256; null when no full super-block). */
  readonly q2kBitsPerWeight: number | null;
  /** Share (%) of Q2_K bits that are metadata (20/84). */
  readonly q2kMetadataSharePct: number | null;
  readonly rowsUsed: number;
  /** Mean over rows of the std of that row's 16-element group means. */
  readonly intraRowGroupMeanStd: number | null;
  /** Classification of group means by sign around ±threshold. */
  readonly groupMeanSign: {
    /** Threshold used: 0.001 absolute in seed-compat; 0.1 × tensor std / 4 in default mode (a tenth of a zero-mean group mean's typical size). */
    readonly threshold: number;
    readonly positivePct: number | null;
    readonly negativePct: number | null;
    readonly nearZeroPct: number | null;
  };
}

export interface Section7 {
  readonly tensors: readonly RowGrouping[];
}

// ---------------------------------------------------------------- section 8

/** Stats of one token (row) of an activation. */
export interface TokenStats {
  readonly mean: number | null;
  readonly std: number | null;
  readonly absMax: number | null;
  /** Fraction with |x| < 0.01 × this token's std. */
  readonly nearZeroFraction: number | null;
}

export interface TokenPair {
  readonly token: number;
  readonly ffnInput: TokenStats;
  readonly swiglu: TokenStats;
  /** Fraction of SwiGLU values < 0 (sign balance, not sparsity: defect 26). */
  readonly swigluNegativeFraction: number | null;
}

export interface Section8 {
  /** False when either activation is missing (then the rest is empty and `note` says why). */
  readonly available: boolean;
  readonly note: string | null;
  readonly ffnInputShape: readonly [number, number] | null;
  readonly swigluShape: readonly [number, number] | null;
  /** The first tokens, shown individually (3). */
  readonly tokens: readonly TokenPair[];
  /** Averages over every paired token (default mode; null in seed-compat). */
  readonly allTokens: {
    readonly tokens: number;
    readonly ffnInputNearZero: number | null;
    readonly swigluNearZero: number | null;
    readonly swigluNegative: number | null;
  } | null;
  /** Per-dimension SwiGLU properties over all tokens. */
  readonly dims: {
    readonly count: number;
    readonly meanMin: number | null;
    readonly meanMax: number | null;
    readonly stdMin: number | null;
    readonly stdMax: number | null;
    /** Per-dim fraction of tokens < 0: mean / min / max over dims. */
    readonly negativeFraction: Summary;
    readonly dimsNegativeAbove70: number;
    readonly dimsNegativeBelow30: number;
    /** True sparsity: fraction of all SwiGLU values with |x| < 0.01 × its dimension's RMS (default mode; null in seed-compat). */
    readonly nearZeroFraction: number | null;
  } | null;
}

// ---------------------------------------------------------------- section 9

/** One 256-column super-block of a weight × its activation. */
export interface SuperBlockRow {
  readonly index: number;
  readonly startCol: number;
  readonly endCol: number;
  /** Mean of x² over all tokens and the block's 256 columns. */
  readonly actPower: number;
  /** Mean squared quantization error of the weights in this block's columns. */
  readonly weightMse: number;
  /** actPower × weightMse. */
  readonly contrib: number;
}

export interface SuperBlockDecomposition {
  readonly name: string;
  readonly activation: string;
  readonly superBlocks: number;
  /** Columns after the last full super-block (dropped by the study, defect 28). */
  readonly tailColumns: number;
  readonly rowsUsed: number;
  readonly actPower: Summary;
  readonly weightMse: Summary;
  /** Correlation of sqrt(actPower) and sqrt(weightMse) over super-blocks with power > 1e-10; null when undefined. The study reports 0 unless > 10 blocks (defect 29). */
  readonly correlation: number | null;
  /** Top blocks by contrib, descending (5). */
  readonly top: readonly SuperBlockRow[];
  /** Mean over every element of x²·err² summed per block (defect 30 fix: per-element products averaged), i.e. sum_sb actPower·weightMse·256 / cols; null in seed-compat. */
  readonly meanElementProduct: number | null;
  readonly note: string | null;
}

export interface Section9 {
  readonly tensors: readonly SuperBlockDecomposition[];
  readonly skipped: readonly string[];
}

// ---------------------------------------------------------------- whole study

export interface StudyResult {
  /** Bumped when a field changes meaning. */
  readonly schemaVersion: 1;
  readonly mode: "default" | "seed-compat";
  readonly quantizer: QuantizerInfo;
  readonly sampling: Sampling;
  readonly inputs: readonly StudyInput[];
  /** Data problems found (non-finite values, tail columns, mismatches), one line each. */
  readonly warnings: readonly string[];
  readonly section1: Section1;
  readonly section2: Section2;
  readonly section3: Section3;
  readonly section4: Section4;
  readonly section5: Section5;
  readonly section6: Section6;
  readonly section7: Section7;
  readonly section8: Section8;
  readonly section9: Section9;
  /** Wall time of the analysis in milliseconds. */
  readonly elapsedMs: number;
}
