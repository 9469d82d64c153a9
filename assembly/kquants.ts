// Kernels for the K-quants Q2_K..Q6_K (see assembly/index.ts), in the
// kernelCodec ABI (src/quant/kernelCodec.ts): quantize_<k>(src, dst, rows,
// cols, imatrix|0) -> UNCHECKED, dequantize_<k>(src, dst, nfloats).
// kquants_ref.ts: scalar statement-for-statement ports of ggml-quants.c (the
// oracle the tests compare the fast kernels with); kquants_q*.ts: the fast
// SIMD kernels the codecs use.
export { kquantQuantizeRef, kquantDequantizeRef } from "./kquants_ref";
export { quantize_q2_k, dequantize_q2_k } from "./kquants_q2k";
export { quantize_q3_k, dequantize_q3_k } from "./kquants_q3k";
export { quantize_q4_k, dequantize_q4_k, quantize_q5_k, dequantize_q5_k } from "./kquants_q45k";
export { quantize_q6_k, dequantize_q6_k } from "./kquants_q6k";
