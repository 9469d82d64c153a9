// Q4_K codec: llama.cpp's 4-bit K-quant (256-weight super-blocks), kernels in
// assembly/kquants_q*.ts; imatrix optional (it selects ggml's *_impl search),
// NaN/Inf rejected (ggml defines no result for them).
import { kernelCodec } from "../kernelCodec.js";

export const q4K = kernelCodec({ name: "Q4_K", kernel: "q4_k", imatrix: "optional", nonFinite: "reject" });
