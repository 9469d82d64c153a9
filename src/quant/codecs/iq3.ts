// IQ3_XXS and IQ3_S codecs: llama.cpp's 3-bit grid types (256-weight
// super-blocks), kernels in assembly/iq3*.ts. ggml does not require an imatrix
// for them (ggml_quantize_requires_imatrix) but uses one when given; NaN/Inf
// input is rejected like every block type (ggml defines no result for it).
import { registerCodec } from "../registry.js";
import { kernelCodec } from "../kernelCodec.js";

registerCodec(kernelCodec({ name: "IQ3_XXS", kernel: "iq3_xxs", imatrix: "optional", nonFinite: "reject" }));
registerCodec(kernelCodec({ name: "IQ3_S", kernel: "iq3_s", imatrix: "optional", nonFinite: "reject" }));
