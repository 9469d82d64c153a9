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

/**
 * best_index_mxfp4 on 4 values at once: the same |kv[i]*d - x| per candidate in
 * the same order, keeping the first strict minimum (element-wise, so same bits).
 */
// @ts-ignore: decorator
@inline function bestIndex4(x: v128, d: v128): v128 {
  let bestErr = f32x4.abs(f32x4.sub(f32x4.mul(f32x4.splat(load<f32>(KV)), d), x));
  let best = i32x4.splat(0);
  for (let i = 1; i < 16; i++) {
    const err = f32x4.abs(f32x4.sub(f32x4.mul(f32x4.splat(load<f32>(KV + (<usize>i << 2))), d), x));
    const better = f32x4.lt(err, bestErr);
    best = v128.bitselect(i32x4.splat(i), best, better);
    bestErr = v128.bitselect(err, bestErr, better);
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
    const d = f32x4.splat(e8m0Half(e));
    store<u8>(y, <u8>e);
    for (let j = 0; j < 16; j += 4) {
      const lo = bestIndex4(v128.load(x + (<usize>j << 2)), d);
      const hi = bestIndex4(v128.load(x + (<usize>(j + 16) << 2)), d);
      const b = v128.or(lo, i32x4.shl(hi, 4));
      store<u8>(y + 1 + j, <u8>i32x4.extract_lane(b, 0));
      store<u8>(y + 2 + j, <u8>i32x4.extract_lane(b, 1));
      store<u8>(y + 3 + j, <u8>i32x4.extract_lane(b, 2));
      store<u8>(y + 4 + j, <u8>i32x4.extract_lane(b, 3));
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
