// Q3_K codec: llama.cpp's 3-bit K-quant (256-weight super-blocks), kernels in
// assembly/kquants_q*.ts; imatrix optional (it selects ggml's *_impl search),
// NaN/Inf rejected (ggml defines no result for them).
import { kernelCodec } from "../kernelCodec.js";

export const q3K = kernelCodec({ name: "Q3_K", kernel: "q3_k", imatrix: "optional", nonFinite: "reject" });
