// TQ1_0 and TQ2_0 (ternary, 256-blocks): quantize_row_tq*_ref and dequantizers.
// The imatrix is ignored, as in ggml. lroundf = round half away from zero.
import { fp32ToFp16, fp16ToFp32, roundf } from "./common";
import { UNCHECKED } from "./legacy_check";

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/** d = max |x| over 256 values, as (amax > |v| ? amax : |v|). */
// @ts-ignore: decorator
@inline function absMax256(x: usize): f32 {
  let amax: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const a = Mathf.abs(ldf(x, j));
    amax = amax > a ? amax : a;
  }
  return amax;
}

/** lroundf(v) + 1 : -1, 0, 1 -> 0, 1, 2 */
// @ts-ignore: decorator
@inline function trit(v: f32): u32 {
  return <u32>(<i32>roundf(v) + 1);
}

export function quantize_tq1_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nb = (nrows * ncols) >> 8;
  let x = src;
  for (let i = 0; i < nb; i++) {
    const y = dst + <usize>i * 54;
    const d = absMax256(x);
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y + 52, fp32ToFp16(d));
    // 5 trits per byte along 32 bytes, then along 16 bytes
    for (let m = 0; m < 32; m++) {
      let q: u32 = 0;
      for (let n = 0; n < 5; n++) q = ((q * 3) & 0xff) + trit(ldf(x, m + n * 32) * id) & 0xff;
      store<u8>(y + m, <u8>((q * 256 + 242) / 243));
    }
    x += 160 * 4;
    for (let m = 0; m < 16; m++) {
      let q: u32 = 0;
      for (let n = 0; n < 5; n++) q = ((q * 3) & 0xff) + trit(ldf(x, m + n * 16) * id) & 0xff;
      store<u8>(y + 32 + m, <u8>((q * 256 + 242) / 243));
    }
    x += 80 * 4;
    // 4 trits per byte, shifted up to the most significant trit
    for (let j = 0; j < 4; j++) {
      let q: u32 = 0;
      for (let m = 0; m < 4; m++) q = ((q * 3) & 0xff) + trit(ldf(x, j + m * 4) * id) & 0xff;
      q = (q * 3) & 0xff;
      store<u8>(y + 48 + j, <u8>((q * 256 + 242) / 243));
    }
    x += 16 * 4;
  }
  return UNCHECKED;
}

export function quantize_tq2_0(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nb = (nrows * ncols) >> 8;
  let x = src;
  for (let i = 0; i < nb; i++) {
    const y = dst + <usize>i * 66;
    const d = absMax256(x);
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y + 64, fp32ToFp16(d));
    for (let j = 0; j < 64; j += 32) {
      for (let m = 0; m < 32; m++) {
        let q: u32 = 0;
        for (let n = 0; n < 4; n++) q += (trit(ldf(x, m + n * 32) * id) & 3) << (2 * n);
        store<u8>(y + j + m, <u8>q);
      }
      x += 128 * 4;
    }
  }
  return UNCHECKED;
}

const POW3: usize = memory.data<u8>([1, 3, 9, 27, 81, 243]);

// @ts-ignore: decorator
@inline function tritValue(b: u8, n: i32, d: f32): f32 {
  const q = <u32>(<u8>(<u32>b * <u32>load<u8>(POW3 + n)));
  const xi = <i32>((q * 3) >> 8);
  return <f32>(xi - 1) * d;
}

export function dequantize_tq1_0(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  let y = dst;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>i * 54;
    const d = fp16ToFp32(load<u16>(x + 52));
    for (let k = 0; k < 5; k++) {
      for (let m = 0; m < 32; m++) {
        store<f32>(y, tritValue(load<u8>(x + m), k, d));
        y += 4;
      }
    }
    for (let k = 0; k < 5; k++) {
      for (let m = 0; m < 16; m++) {
        store<f32>(y, tritValue(load<u8>(x + 32 + m), k, d));
        y += 4;
      }
    }
    for (let k = 0; k < 4; k++) {
      for (let j = 0; j < 4; j++) {
        store<f32>(y, tritValue(load<u8>(x + 48 + j), k, d));
        y += 4;
      }
    }
  }
}

export function dequantize_tq2_0(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  let y = dst;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>i * 66;
    const d = fp16ToFp32(load<u16>(x + 64));
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) {
        for (let m = 0; m < 32; m++) {
          const q = (<i32>load<u8>(x + j + m) >> (l * 2)) & 3;
          store<f32>(y, <f32>(q - 1) * d);
          y += 4;
        }
      }
    }
  }
}
