// Registers NVFP4, Q1_0 and Q2_0 (kernels in assembly/legacy_lowbit.ts).
// ggml's quantize_nvfp4/q1_0/q2_0 give the same bytes with or without an
// imatrix (Q1_0/Q2_0 only loop row by row over the same _ref function), so
// the imatrix is "ignored"; NaN/Inf input is rejected like the other block types.
import { registerCodec } from "../registry.js";
import { kernelCodec, type KernelCodecSpec } from "../kernelCodec.js";

export const LOWBIT_SPECS: readonly KernelCodecSpec[] = [
  { name: "NVFP4", kernel: "nvfp4", imatrix: "ignored", nonFinite: "reject" },
  { name: "Q1_0", kernel: "q1_0", imatrix: "ignored", nonFinite: "reject" },
  { name: "Q2_0", kernel: "q2_0", imatrix: "ignored", nonFinite: "reject" },
];

for (const spec of LOWBIT_SPECS) registerCodec(kernelCodec(spec));
