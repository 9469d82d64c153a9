// Registers the legacy and other non-K codecs (F16 .. MXFP4). Each is a pair
// of WASM kernels in assembly/legacy_*.ts; this table says how each type uses
// an imatrix (as ggml_quantize_chunk does) and what it does with NaN/Inf.
import { registerCodec } from "../registry.js";
import { kernelCodec, type KernelCodecSpec } from "../kernelCodec.js";

export const LEGACY_SPECS: readonly KernelCodecSpec[] = [
  { name: "F16", kernel: "f16", imatrix: "ignored", nonFinite: "convert" },
  { name: "BF16", kernel: "bf16", imatrix: "ignored", nonFinite: "convert" },
  // *_impl weighted searches with an imatrix, *_ref rounding without
  { name: "Q4_0", kernel: "q4_0", imatrix: "optional", nonFinite: "reject" },
  { name: "Q4_1", kernel: "q4_1", imatrix: "optional", nonFinite: "reject" },
  { name: "Q5_0", kernel: "q5_0", imatrix: "optional", nonFinite: "reject" },
  { name: "Q5_1", kernel: "q5_1", imatrix: "optional", nonFinite: "reject" },
  { name: "Q8_0", kernel: "q8_0", imatrix: "ignored", nonFinite: "reject" },
  // same search either way; the imatrix only changes the weights
  { name: "IQ4_NL", kernel: "iq4_nl", imatrix: "optional", nonFinite: "reject" },
  { name: "IQ4_XS", kernel: "iq4_xs", imatrix: "optional", nonFinite: "reject" },
  { name: "TQ1_0", kernel: "tq1_0", imatrix: "ignored", nonFinite: "reject" },
  { name: "TQ2_0", kernel: "tq2_0", imatrix: "ignored", nonFinite: "reject" },
  { name: "MXFP4", kernel: "mxfp4", imatrix: "ignored", nonFinite: "reject" },
];

for (const spec of LEGACY_SPECS) registerCodec(kernelCodec(spec));
