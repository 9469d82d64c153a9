import { fp16ToFp32, fp32ToFp16 } from "./common";
// Dense f32 matmul for the forward pass: y[t, o] = Σ_j x[t, j] · W[o, j]
// (x: T×n row-major, W: m×n row-major, y: T×m). Four tokens × two output
// rows per inner loop share every load; f32x4 lanes along j, summed at the
// end. f32 accumulation, like llama.cpp's CPU matmuls.

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Rows [o0, o1) of W against all T tokens. */
export function matmul_f32(x: usize, T: i32, n: i32, W: usize, m: i32, y: usize, o0: i32, o1: i32): void {
  const n4 = n & ~3;
  const rowBytes = <usize>n << 2;
  let t = 0;
  for (; t + 3 < T; t += 4) {
    const xa = x + <usize>t * rowBytes;
    const xb = xa + rowBytes, xc = xb + rowBytes, xd = xc + rowBytes;
    let o = o0;
    for (; o + 1 < o1; o += 2) {
      const wa = W + <usize>o * rowBytes;
      const wb = wa + rowBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      for (let j = 0; j < n4; j += 4) {
        const off = <usize>j << 2;
        const w0 = v128.load(wa + off), w1 = v128.load(wb + off);
        const v0 = v128.load(xa + off), v1 = v128.load(xb + off), v2 = v128.load(xc + off), v3 = v128.load(xd + off);
        a0 = f32x4.add(a0, f32x4.mul(v0, w0)); b0 = f32x4.add(b0, f32x4.mul(v0, w1));
        a1 = f32x4.add(a1, f32x4.mul(v1, w0)); b1 = f32x4.add(b1, f32x4.mul(v1, w1));
        a2 = f32x4.add(a2, f32x4.mul(v2, w0)); b2 = f32x4.add(b2, f32x4.mul(v2, w1));
        a3 = f32x4.add(a3, f32x4.mul(v3, w0)); b3 = f32x4.add(b3, f32x4.mul(v3, w1));
      }
      let sa0 = hsum(a0), sa1 = hsum(a1), sa2 = hsum(a2), sa3 = hsum(a3);
      let sb0 = hsum(b0), sb1 = hsum(b1), sb2 = hsum(b2), sb3 = hsum(b3);
      for (let j = n4; j < n; j++) {
        const off = <usize>j << 2;
        const w0 = load<f32>(wa + off), w1 = load<f32>(wb + off);
        const v0 = load<f32>(xa + off), v1 = load<f32>(xb + off), v2 = load<f32>(xc + off), v3 = load<f32>(xd + off);
        sa0 += v0 * w0; sa1 += v1 * w0; sa2 += v2 * w0; sa3 += v3 * w0;
        sb0 += v0 * w1; sb1 += v1 * w1; sb2 += v2 * w1; sb3 += v3 * w1;
      }
      const ya = y + ((<usize>t * <usize>m + <usize>o) << 2);
      const ym = <usize>m << 2;
      store<f32>(ya, sa0); store<f32>(ya + ym, sa1); store<f32>(ya + 2 * ym, sa2); store<f32>(ya + 3 * ym, sa3);
      store<f32>(ya + 4, sb0); store<f32>(ya + ym + 4, sb1); store<f32>(ya + 2 * ym + 4, sb2); store<f32>(ya + 3 * ym + 4, sb3);
    }
    for (; o < o1; o++) {
      const wa = W + <usize>o * rowBytes;
      for (let k = 0; k < 4; k++) {
        const xr = xa + <usize>k * rowBytes;
        store<f32>(y + ((<usize>(t + k) * <usize>m + <usize>o) << 2), dotRow(xr, wa, n));
      }
    }
  }
  for (; t < T; t++) {
    const xr = x + <usize>t * rowBytes;
    for (let o = o0; o < o1; o++) store<f32>(y + ((<usize>t * <usize>m + <usize>o) << 2), dotRow(xr, W + <usize>o * rowBytes, n));
  }
}

function dotRow(xr: usize, wr: usize, n: i32): f32 {
  const n4 = n & ~3;
  let acc = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) {
    const off = <usize>j << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(xr + off), v128.load(wr + off)));
  }
  let s = hsum(acc);
  for (let j = n4; j < n; j++) s += load<f32>(xr + (<usize>j << 2)) * load<f32>(wr + (<usize>j << 2));
  return s;
}

/**
 * Causal attention of one sequence, heads [h0, h1): k, v T×(nKv·d); q and out
 * hold the queries of positions [t0, T) ((T − t0)×(nHead·d)); query head h
 * reads KV head h / (nHead / nKv). `scores` is scratch of T f32. Softmax in
 * f32 with the max subtracted.
 */
export function attention_f32(q: usize, k: usize, v: usize, out: usize, T: i32, nHead: i32, nKv: i32, d: i32, scale: f32, scores: usize, h0: i32, h1: i32, t0: i32): void {
  const group = nHead / nKv;
  const qStride = <usize>(nHead * d) << 2, kStride = <usize>(nKv * d) << 2;
  const d4 = d & ~3;
  for (let h = h0; h < h1; h++) {
    const kh = h / group;
    const qh = <usize>(h * d) << 2, khOff = <usize>(kh * d) << 2;
    for (let t = t0; t < T; t++) {
      const qr = q + <usize>(t - t0) * qStride + qh;
      let max: f32 = -Infinity;
      for (let s = 0; s <= t; s++) {
        const kr = k + <usize>s * kStride + khOff;
        let acc = f32x4.splat(0);
        for (let j = 0; j < d4; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qr + (<usize>j << 2)), v128.load(kr + (<usize>j << 2))));
        let dot = hsum(acc);
        for (let j = d4; j < d; j++) dot += load<f32>(qr + (<usize>j << 2)) * load<f32>(kr + (<usize>j << 2));
        dot *= scale;
        store<f32>(scores + (<usize>s << 2), dot);
        if (dot > max) max = dot;
      }
      let sum: f32 = 0;
      for (let s = 0; s <= t; s++) {
        const e = Mathf.exp(load<f32>(scores + (<usize>s << 2)) - max);
        store<f32>(scores + (<usize>s << 2), e);
        sum += e;
      }
      const inv: f32 = 1 / sum;
      const orow = out + <usize>(t - t0) * qStride + qh;
      let j = 0;
      // eight lane groups (32 dims) per pass over s: each score is loaded once per pass;
      // every output lane still sums over s in ascending order
      for (; j + 31 < d4; j += 32) {
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
        for (let s = 0; s <= t; s++) {
          const p = f32x4.splat(load<f32>(scores + (<usize>s << 2)));
          const vr = v + <usize>s * kStride + khOff + (<usize>j << 2);
          c0 = f32x4.add(c0, f32x4.mul(p, v128.load(vr)));
          c1 = f32x4.add(c1, f32x4.mul(p, v128.load(vr + 16)));
          c2 = f32x4.add(c2, f32x4.mul(p, v128.load(vr + 32)));
          c3 = f32x4.add(c3, f32x4.mul(p, v128.load(vr + 48)));
          c4 = f32x4.add(c4, f32x4.mul(p, v128.load(vr + 64)));
          c5 = f32x4.add(c5, f32x4.mul(p, v128.load(vr + 80)));
          c6 = f32x4.add(c6, f32x4.mul(p, v128.load(vr + 96)));
          c7 = f32x4.add(c7, f32x4.mul(p, v128.load(vr + 112)));
        }
        const iv = f32x4.splat(inv), o = orow + (<usize>j << 2);
        v128.store(o, f32x4.mul(c0, iv)); v128.store(o + 16, f32x4.mul(c1, iv));
        v128.store(o + 32, f32x4.mul(c2, iv)); v128.store(o + 48, f32x4.mul(c3, iv));
        v128.store(o + 64, f32x4.mul(c4, iv)); v128.store(o + 80, f32x4.mul(c5, iv));
        v128.store(o + 96, f32x4.mul(c6, iv)); v128.store(o + 112, f32x4.mul(c7, iv));
      }
      for (; j < d4; j += 4) {
        let acc = f32x4.splat(0);
        for (let s = 0; s <= t; s++) {
          const p = f32x4.splat(load<f32>(scores + (<usize>s << 2)));
          acc = f32x4.add(acc, f32x4.mul(p, v128.load(v + <usize>s * kStride + khOff + (<usize>j << 2))));
        }
        v128.store(orow + (<usize>j << 2), f32x4.mul(acc, f32x4.splat(inv)));
      }
      for (let j = d4; j < d; j++) {
        let acc: f32 = 0;
        for (let s = 0; s <= t; s++) acc += load<f32>(scores + (<usize>s << 2)) * load<f32>(v + <usize>s * kStride + khOff + (<usize>j << 2));
        store<f32>(orow + (<usize>j << 2), acc * inv);
      }
    }
  }
}

/** Rounds n f32 values in place to the nearest IEEE half (llama.cpp's F16 KV cache). */
export function round_to_f16(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const a = p + (<usize>i << 2);
    store<f32>(a, fp16ToFp32(fp32ToFp16(load<f32>(a))));
  }
}
