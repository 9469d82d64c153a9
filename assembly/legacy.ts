// Kernels for the legacy and other non-K types (see assembly/index.ts).
// ABI of every codec here: quantize_<type>(src, dst, nrows, ncols, qw) with
// qw = 0 for "no imatrix", dequantize_<type>(src, dst, nfloats); pointers are
// byte offsets into linear memory owned by the host (src/quant/wasm.ts).
export { firstNonFinite } from "./legacy_check";
export { quantize_f16, dequantize_f16, quantize_bf16, dequantize_bf16 } from "./legacy_float";
export {
  quantize_q4_0, dequantize_q4_0, quantize_q4_1, dequantize_q4_1,
  quantize_q5_0, dequantize_q5_0, quantize_q5_1, dequantize_q5_1,
  quantize_q8_0, dequantize_q8_0, quantize_q8_0_scalar,
} from "./legacy_q";
export { quantize_iq4_nl, dequantize_iq4_nl, quantize_iq4_xs, dequantize_iq4_xs } from "./legacy_iq4";
export { quantize_tq1_0, dequantize_tq1_0, quantize_tq2_0, dequantize_tq2_0 } from "./legacy_tq";
export { quantize_mxfp4, dequantize_mxfp4 } from "./legacy_mxfp4";
