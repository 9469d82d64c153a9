// F16 and BF16: element-wise conversions (ggml_fp32_to_fp16_row / _bf16_row_ref
// and their inverses). NaN and Inf are converted like ggml does, never rejected.
import { fp32ToFp16, fp16ToFp32, fp32ToBf16, bf16ToFp32, fp32ToFp16x4, fp16ToFp32x4 } from "./common";
import { UNCHECKED } from "./legacy_check";

export function quantize_f16(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const n = <usize>nrows * <usize>ncols;
  let i: usize = 0;
  // 8 at a time with the same bit operations, narrowed to u16 (values are < 0x10000)
  for (; i + 8 <= n; i += 8) {
    const a = fp32ToFp16x4(v128.load(src + (i << 2)));
    const b = fp32ToFp16x4(v128.load(src + (i << 2), 16));
    v128.store(dst + (i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  for (; i < n; i++) store<u16>(dst + (i << 1), fp32ToFp16(load<f32>(src + (i << 2))));
  return UNCHECKED;
}

export function dequantize_f16(src: usize, dst: usize, n: i32): void {
  let i: usize = 0;
  for (; i + 8 <= <usize>n; i += 8) {
    const h = v128.load(src + (i << 1));
    v128.store(dst + (i << 2), fp16ToFp32x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (i << 2), fp16ToFp32x4(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < <usize>n; i++) store<f32>(dst + (i << 2), fp16ToFp32(load<u16>(src + (i << 1))));
}

export function quantize_bf16(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const n = <usize>nrows * <usize>ncols;
  for (let i: usize = 0; i < n; i++) store<u16>(dst + (i << 1), fp32ToBf16(load<f32>(src + (i << 2))));
  return UNCHECKED;
}

export function dequantize_bf16(src: usize, dst: usize, n: i32): void {
  for (let i: usize = 0; i < <usize>n; i++) store<f32>(dst + (i << 2), bf16ToFp32(load<u16>(src + (i << 1))));
}
