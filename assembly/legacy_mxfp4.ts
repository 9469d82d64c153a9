// MXFP4 (32-blocks, E8M0 shared exponent + E2M1 nibbles): quantize_row_mxfp4_ref
// and dequantize_row_mxfp4. The exponent is floorf(log2f(amax)) in float32
// (Mathf.log2 is the same table-driven log2f as glibc's); the imatrix is ignored.
import { UNCHECKED } from "./legacy_check";

/** kvalues_mxfp4 (E2M1 values doubled), as floats. */
const KV: usize = memory.data<f32>([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/** GGML_E8M0_TO_FP32_HALF: 2^(e-128), with the two subnormal patterns for e < 2. */
// @ts-ignore: decorator
@inline function e8m0Half(e: u32): f32 {
  return reinterpret<f32>(e < 2 ? (<u32>0x00200000) << e : (e - 1) << 23);
}

/** best_index_mxfp4: first index with the smallest |kv[i]*d - x|. */
// @ts-ignore: decorator
@inline function bestIndex(x: f32, d: f32): u32 {
  let best: u32 = 0;
  let bestErr = Mathf.abs(load<f32>(KV) * d - x);
  for (let i: u32 = 1; i < 16; i++) {
    const err = Mathf.abs(load<f32>(KV + (<usize>i << 2)) * d - x);
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

export function quantize_mxfp4(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nb = (nrows * ncols) >> 5;
  let x = src;
  let y = dst;
  for (let i = 0; i < nb; i++) {
    let amax: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const a = Mathf.abs(ldf(x, j));
      if (amax < a) amax = a;
    }
    // (uint8_t)(floorf(log2f(amax)) - 2 + 127): float math, then int, low 8 bits
    const e: u32 = amax > 0 ? <u32>(<i32>(Mathf.floor(Mathf.log2(amax)) - <f32>2 + <f32>127) & 0xff) : 0;
    const d = e8m0Half(e);
    store<u8>(y, <u8>e);
    for (let j = 0; j < 16; j++) {
      const x0 = bestIndex(ldf(x, j), d);
      const x1 = bestIndex(ldf(x, j + 16), d);
      store<u8>(y + 1 + j, <u8>(x0 | (x1 << 4)));
    }
    x += 128;
    y += 17;
  }
  return UNCHECKED;
}

export function dequantize_mxfp4(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const d = e8m0Half(load<u8>(src));
    for (let j = 0; j < 16; j++) {
      const q = load<u8>(src + 1 + j);
      store<f32>(dst + (<usize>j << 2), ldf(KV, q & 0xf) * d);
      store<f32>(dst + (<usize>(j + 16) << 2), ldf(KV, q >> 4) * d);
    }
    src += 17;
    dst += 128;
  }
}
