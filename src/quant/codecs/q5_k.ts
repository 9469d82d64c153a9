// Q5_K codec: llama.cpp's 5-bit K-quant (256-weight super-blocks), kernels in
// assembly/kquants_q*.ts; imatrix optional (it selects ggml's *_impl search),
// NaN/Inf rejected (ggml defines no result for them).
import { kernelCodec } from "../kernelCodec.js";

export const q5K = kernelCodec({ name: "Q5_K", kernel: "q5_k", imatrix: "optional", nonFinite: "reject" });
