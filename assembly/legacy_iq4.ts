// IQ4_NL (32-blocks) and IQ4_XS (256-superblocks of 32-blocks): the
// non-linear 16-level grid kvalues_iq4nl, quantized by ggml's
// quantize_row_iq4_nl_impl with ntry = 7 (what ggml_quantize_chunk runs, with
// or without an imatrix; only the weights change).
import { fp32ToFp16, fp16ToFp32, nearestInt } from "./common";
import { UNCHECKED } from "./legacy_check";

const GROUP_MAX_EPS: f32 = 1e-15;

/** kvalues_iq4nl as floats (format constants). */
const VALUES: usize = memory.data<f32>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
/** MID2[j] = values[j-1] + values[j]: best_index_int8 compares 2x against these. */
const MID2: usize = memory.data<f32>([0, -231, -187, -148, -114, -84, -57, -32, -9, 14, 38, 63, 91, 122, 158, 202]);

const WEIGHT: usize = memory.data(32 * 4, 16);
const LQ: usize = memory.data(256, 16);
const SCALES: usize = memory.data(8 * 4, 16);

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/** best_index_int8 for the 16 sorted values: branch-free binary search on midpoints. */
// @ts-ignore: decorator
@inline function bestIndex(x: f32): i32 {
  const x2 = x + x;
  let idx = 0;
  let j = idx + 8;
  idx = x2 >= load<f32>(MID2 + (<usize>j << 2)) ? j : idx;
  j = idx + 4;
  idx = x2 >= load<f32>(MID2 + (<usize>j << 2)) ? j : idx;
  j = idx + 2;
  idx = x2 >= load<f32>(MID2 + (<usize>j << 2)) ? j : idx;
  j = idx + 1;
  idx = x2 >= load<f32>(MID2 + (<usize>j << 2)) ? j : idx;
  return idx;
}

// @ts-ignore: decorator
@inline function value(l: i32): f32 {
  return load<f32>(VALUES + (<usize>l << 2));
}

/**
 * quantize_row_iq4_nl_impl(super, 32, 16, ..., ntry = 7) for one super-block
 * of `sb` floats at x (32 or 256). qw: weights of this super-block or 0.
 * Writes d (fp16) at dh, scales at scalesH/scalesL (sb = 256), nibbles at q4.
 */
function iq4Superblock(sb: i32, x: usize, dh: usize, q4: usize, scalesH: usize, scalesL: usize, qw: usize): void {
  const ntry = 7;
  let sigma2: f32 = 0;
  for (let j = 0; j < sb; j++) {
    const v = ldf(x, j);
    sigma2 += v * v;
  }
  sigma2 *= <f32>2 / <f32>sb;
  memory.fill(q4, 0, <usize>(sb >> 1));
  store<u16>(dh, fp32ToFp16(0));

  let maxScale: f32 = 0;
  let amaxScale: f32 = 0;
  const nblk = sb >> 5;
  for (let ib = 0; ib < nblk; ib++) {
    const xb = x + (<usize>ib << 7);
    const Lb = LQ + (<usize>ib << 5);
    if (qw) {
      const q = qw + (<usize>ib << 7);
      for (let j = 0; j < 32; j++) {
        const v = ldf(xb, j);
        store<f32>(WEIGHT + (<usize>j << 2), ldf(q, j) * Mathf.sqrt(sigma2 + v * v));
      }
    } else {
      for (let j = 0; j < 32; j++) {
        const v = ldf(xb, j);
        store<f32>(WEIGHT + (<usize>j << 2), v * v);
      }
    }
    let amax: f32 = 0;
    let max: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const ax = Mathf.abs(ldf(xb, j));
      if (ax > amax) {
        amax = ax;
        max = ldf(xb, j);
      }
    }
    if (amax < GROUP_MAX_EPS) {
      store<f32>(SCALES + (<usize>ib << 2), 0);
      memory.fill(Lb, 0, 32);
      continue;
    }
    let d: f32 = -max / value(0); // ntry > 0
    let id: f32 = <f32>1 / d;
    let sumqx: f32 = 0;
    let sumq2: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = ldf(xb, j);
      const l = bestIndex(id * xj);
      store<u8>(Lb + j, <u8>l);
      const q = value(l);
      const w = ldf(WEIGHT, j);
      sumqx += w * q * xj;
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : <f32>0;
    let best: f32 = d * sumqx;
    for (let itry = -ntry; itry <= ntry; itry++) {
      id = <f32>(itry - 127) / max; // (itry + values[0]) is an int, converted once
      sumqx = 0;
      sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const xj = ldf(xb, j);
        const q = value(bestIndex(id * xj));
        const w = ldf(WEIGHT, j);
        sumqx += w * q * xj;
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    store<f32>(SCALES + (<usize>ib << 2), d);
    const absD = Mathf.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }

  if (nblk > 1) {
    store<u16>(scalesH, 0);
    const d: f32 = -maxScale / <f32>32;
    store<u16>(dh, fp32ToFp16(d));
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    for (let ib = 0; ib < nblk; ib++) {
      let l = nearestInt(id * ldf(SCALES, ib));
      l = l > 31 ? 31 : l;
      l = l < -32 ? -32 : l;
      const dl: f32 = d * <f32>l;
      const idl: f32 = dl != 0 ? <f32>1 / dl : 0;
      const Lb = LQ + (<usize>ib << 5);
      const xb = x + (<usize>ib << 7);
      for (let j = 0; j < 32; j++) store<u8>(Lb + j, <u8>bestIndex(idl * ldf(xb, j)));
      l += 32;
      const lLow = l & 0xf;
      const lHigh = l >> 4;
      const sl = scalesL + (<usize>ib >> 1);
      if ((ib & 1) == 0) store<u8>(sl, <u8>lLow);
      else store<u8>(sl, <u8>(load<u8>(sl) | (lLow << 4)));
      store<u16>(scalesH, <u16>(load<u16>(scalesH) | (lHigh << (2 * ib))));
    }
  } else {
    const s = ldf(SCALES, 0);
    store<u16>(dh, fp32ToFp16(s));
    const id: f32 = s != 0 ? <f32>1 / s : 0;
    for (let j = 0; j < sb; j++) store<u8>(LQ + j, <u8>bestIndex(id * ldf(x, j)));
  }

  for (let i = 0; i < nblk; i++) {
    for (let j = 0; j < 16; j++) {
      const a = load<u8>(LQ + (<usize>i << 5) + j);
      const b = load<u8>(LQ + (<usize>i << 5) + 16 + j);
      store<u8>(q4 + (<usize>i << 4) + j, <u8>(a | (b << 4)));
    }
  }
}

export function quantize_iq4_nl(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nblock = ncols >> 5;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const y = dst + (<usize>(r * nblock + ibl)) * 18;
      const x = src + ((<usize>(r * ncols + (ibl << 5))) << 2);
      iq4Superblock(32, x, y, y + 2, 0, 0, qw ? qw + (<usize>ibl << 7) : 0);
    }
  }
  return UNCHECKED;
}

export function quantize_iq4_xs(src: usize, dst: usize, nrows: i32, ncols: i32, qw: usize): i32 {
  const nblock = ncols >> 8;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nblock; ibl++) {
      const y = dst + (<usize>(r * nblock + ibl)) * 136;
      const x = src + ((<usize>(r * ncols + (ibl << 8))) << 2);
      iq4Superblock(256, x, y, y + 8, y + 2, y + 4, qw ? qw + (<usize>ibl << 10) : 0);
    }
  }
  return UNCHECKED;
}

export function dequantize_iq4_nl(src: usize, dst: usize, n: i32): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    for (let j = 0; j < 16; j++) {
      const q = load<u8>(src + 2 + j);
      store<f32>(dst + (<usize>j << 2), d * value(q & 0xf));
      store<f32>(dst + (<usize>(j + 16) << 2), d * value(q >> 4));
    }
    src += 18;
    dst += 128;
  }
}

export function dequantize_iq4_xs(src: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const d = fp16ToFp32(load<u16>(src));
    const scalesH = <i32>load<u16>(src, 2);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((<i32>load<u8>(src + 4 + (ib >> 1)) >> (4 * (ib & 1))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl: f32 = d * <f32>(ls - 32);
      const qs = src + 8 + (<usize>ib << 4);
      for (let j = 0; j < 16; j++) {
        const q = load<u8>(qs + j);
        store<f32>(dst + (<usize>j << 2), dl * value(q & 0xf));
        store<f32>(dst + (<usize>(j + 16) << 2), dl * value(q >> 4));
      }
      dst += 128;
    }
    src += 136;
  }
}
