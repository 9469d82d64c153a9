// Q2_K codec: llama.cpp's 2-bit K-quant (256-weight super-blocks), kernels in
// assembly/kquants_q*.ts; imatrix optional (it selects ggml's *_impl search),
// NaN/Inf rejected (ggml defines no result for them).
import { kernelCodec } from "../kernelCodec.js";

export const q2K = kernelCodec({ name: "Q2_K", kernel: "q2_k", imatrix: "optional", nonFinite: "reject" });
