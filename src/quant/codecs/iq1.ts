// IQ1_S and IQ1_M codecs: llama.cpp's 1.5625 / 1.75 bpw grid types (the
// 2048-point ternary grid iq1s_grid), kernels in assembly/iq1*.ts. IQ1_S
// requires an imatrix, as ggml_quantize_requires_imatrix says; IQ1_M uses one
// when given (ggml's check for it is commented out). NaN/Inf rejected.
import { registerCodec } from "../registry.js";
import { kernelCodec, type KernelCodecSpec } from "../kernelCodec.js";

export const IQ1_SPECS: readonly KernelCodecSpec[] = [
  { name: "IQ1_S", kernel: "iq1_s", imatrix: "required", nonFinite: "reject" },
  { name: "IQ1_M", kernel: "iq1_m", imatrix: "optional", nonFinite: "reject" },
];

for (const spec of IQ1_SPECS) registerCodec(kernelCodec(spec));
