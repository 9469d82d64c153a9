// Registers the 2-bit grid codecs IQ2_XXS, IQ2_XS and IQ2_S (kernels in
// assembly/iq2*.ts). ggml_quantize_requires_imatrix lists IQ2_XXS and IQ2_XS:
// their quantizers assert on a missing imatrix, so they are "required" here;
// IQ2_S has its own weights without one.
import { registerCodec } from "../registry.js";
import { kernelCodec, type KernelCodecSpec } from "../kernelCodec.js";

export const IQ2_SPECS: readonly KernelCodecSpec[] = [
  { name: "IQ2_XXS", kernel: "iq2_xxs", imatrix: "required", nonFinite: "reject" },
  { name: "IQ2_XS", kernel: "iq2_xs", imatrix: "required", nonFinite: "reject" },
  { name: "IQ2_S", kernel: "iq2_s", imatrix: "optional", nonFinite: "reject" },
];

for (const spec of IQ2_SPECS) registerCodec(kernelCodec(spec));
