// Kernels for the K-quants Q2_K..Q6_K (see assembly/index.ts).
// kquants_ref.ts: scalar statement-for-statement ports of ggml-quants.c (the
// oracle the tests compare the fast kernels with); kquants_q*.ts: the fast
// SIMD kernels the codecs use (src/quant/codecs/q*_k.ts).
export { kquantQuantizeRef, kquantDequantizeRef } from "./kquants_ref";
export { q2KQuantize, q2KDequantize } from "./kquants_q2k";
export { q3KQuantize, q3KDequantize } from "./kquants_q3k";
export { q4KQuantize, q4KDequantize, q5KQuantize, q5KDequantize } from "./kquants_q45k";
export { q6KQuantize, q6KDequantize } from "./kquants_q6k";
