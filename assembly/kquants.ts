// Kernels for the K-quants Q2_K..Q6_K (see assembly/index.ts).
export function _kquantsPlaceholder(): i32 { return 0; }
