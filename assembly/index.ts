// Entry point of the WASM kernel module (build/kernels.wasm).
// Each kernel family lives in its own file and is re-exported here.
// Kernels take byte offsets into linear memory; the host (src/quant/wasm.ts)
// owns allocation, so the module runs with the stub runtime and no GC.
export { heapBase } from "./common";
export * from "./legacy";   // F16, BF16, Q4_0..Q8_0, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4
export * from "./kquants";  // Q2_K..Q6_K
export * from "./study";   // the study's fused weight pass B (f64x2)
export { matmul_f32, attention_f32, round_to_f16 } from "./forward"; // the forward pass: f32 matmul, causal attention
export * from "./legacy_lowbit"; // NVFP4, Q1_0, Q2_0
export { attention_back_f32 } from "./calib_backward"; // quantscope calibrate: attention backward
