// Entry point of the WASM kernel module (build/kernels.wasm).
// Each kernel family lives in its own file and is re-exported here.
// Kernels take byte offsets into linear memory; the host (src/quant/wasm.ts)
// owns allocation, so the module runs with the stub runtime and no GC.
export * from "./common";
