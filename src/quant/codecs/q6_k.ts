// Q6_K codec: llama.cpp's 6-bit K-quant (256-weight super-blocks), kernels in
// assembly/kquants_q*.ts; imatrix optional (it selects ggml's *_impl search),
// NaN/Inf rejected (ggml defines no result for them).
import { kernelCodec } from "../kernelCodec.js";

export const q6K = kernelCodec({ name: "Q6_K", kernel: "q6_k", imatrix: "optional", nonFinite: "reject" });
