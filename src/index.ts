// quantscope's library entry: the public API with its types.
// Analyses are pure functions from tensors to typed results; reports format
// those results. See README.md for what each function is for.

// Quantization (bit-exact llama.cpp codecs)
export {
  quantize,
  dequantize,
  quantizeInto,
  dequantizeInto,
  quantizedSize,
  typeInfo,
  supportedTypes,
  codecFor,
  type TypeInfo,
  type Codec,
  type ImatrixUse,
} from "./quant/index.js";
export { quantizeParallel } from "./quant/parallel.js";
export { quantizeTensor, quantizeTensorParallel, dequantizeTensor, roundTripTensor, tensorImatrix, tensorBytes, tensorSlices, type TensorImatrix, type TensorSlices } from "./quant/tensor.js";
export { KernelWorkspace } from "./quant/workspace.js";
export { ggmlTypeById, ggmlTypeByName, allGgmlTypes, bitsPerWeight, type GgmlTypeInfo } from "./ggml/types.js";

// Reading models, tensors and importance matrices
export {
  openSource,
  readImatrix,
  type TensorSource,
  type TensorInfo,
  type SourceFormat,
  type Imatrix,
  type ImatrixEntry,
} from "./io/source.js";
export { expertImatrix, expertTokens } from "./io/imatrix.js";
export { expertCount, expertRows, expertRowRange, isExpertTensor, readExpert, readExpertRaw, moeFacts, type MoeFacts } from "./io/experts.js";
export { readF32Bin, readF32BinHeader, encodeF32Bin, type Matrix } from "./io/f32bin.js";
export { QuantscopeError, isQuantscopeError } from "./io/errors.js";

// The study (the original nine sections)
export { runStudy, runStudyParallel, folderSources } from "./analysis/study/study.js";
export { proxyQuantizer, codecQuantizer, quantizerFor } from "./analysis/study/group-quantizer.js";
export type * from "./analysis/study/types.js";
export { formatStudyText } from "./report/study-text.js";
export { formatStudyJson } from "./report/study-json.js";

// Sweep, sensitivity, plans and llama-quantize's standard mixes
export { sweepModel, DEFAULT_SWEEP_TYPES } from "./analysis/sweep/sweep.js";
export { predictKl } from "./analysis/sensitivity/gain-table.js";
export { plan, tensorTypeLines } from "./analysis/plan/plan.js";
export { standardMix, sizedMix, mixModelFromSource, parseMix, STANDARD_MIXES, FTYPES } from "./analysis/plan/mixes.js";
export { summarizeMix } from "./analysis/plan/mix-summary.js";
export { quantizedLayout, quantizedFileSize, imatrixKv } from "./analysis/plan/mix-size.js";
export type * from "./analysis/sweep/types.js";
export { sweepFile } from "./pipeline/sweep.js";
export { planSweptModel, llamaQuantizeCommand, fileSizing, type PlanTarget, type PlannedModel } from "./pipeline/plan.js";
export { klHarnessFor, calibrationFor } from "./pipeline/inputs.js";

// Diagnosis and reports
export { diagnose, diagnoseTensor, THRESHOLDS } from "./analysis/diagnosis/diagnosis.js";
export { diagnoseExperts, EXPERT_THRESHOLDS } from "./analysis/diagnosis/experts.js";
export { collectExpertEvidence, type ExpertTensorEvidence } from "./analysis/diagnosis/experts-evidence.js";
export { expertTokenGroups, EXPERT_TOKEN_THRESHOLDS, type ExpertTokenGroup } from "./analysis/imatrix/expert-tokens.js";
export { buildReport } from "./pipeline/report.js";
export { writeReport } from "./report/report-files.js";
