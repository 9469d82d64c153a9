// Entry point of the WASM kernel module (build/kernels.wasm).
// Each kernel family lives in its own file and is re-exported here.
// Kernels take byte offsets into linear memory; the host (src/quant/wasm.ts)
// owns allocation, so the module runs with the stub runtime and no GC.
export { heapBase } from "./common";
export * from "./legacy";   // F16, BF16, Q4_0..Q8_0, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4
export * from "./kquants";  // Q2_K..Q6_K
export * from "./iq1";      // IQ1_S, IQ1_M
export * from "./study";   // the study's fused weight pass B (f64x2)
export * from "./sweep";   // the sweep's error pass (f64, same order as the TS reference)
export { matmul_f32, attention_f32, round_to_f16 } from "./forward"; // the forward pass: f32 matmul, causal attention
export * from "./legacy_lowbit"; // NVFP4, Q1_0, Q2_0
export * from "./iq3";     // IQ3_XXS, IQ3_S (grid tables built lazily, iq3_init.ts)
export * from "./iq2";   // IQ2_XXS, IQ2_XS, IQ2_S
export { attention_back_f32, fisher_marginals_f32 } from "./calib_backward"; // quantscope calibrate: attention backward, fused Fisher marginals
