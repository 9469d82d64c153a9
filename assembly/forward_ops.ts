import { fp16ToFp32, fp16ToFp32x4, fp32ToFp16x4 } from "./common";

// The forward pass's non-matmul kernels (attention, SiLU, F16 rounding),
// compiled into the relaxed-SIMD module (assembly/forward_relaxed.ts ->
// build/forward-relaxed.wasm), where madd is one fused multiply-add. madd
// falls back to mul + add when built without relaxed SIMD
// (ASC_FEATURE_RELAXED_SIMD is a compile-time constant).

// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * e^x in four f32 lanes (Cephes expf: x = n·ln2 + r, a degree-5 polynomial in
 * r, 2^n put into the exponent bits), within 2 ulp; 0 below -87.33 (where
 * expf leaves the normal range), +inf above 88.72. llama.cpp's CPU softmax
 * and SiLU use a SIMD approximation of the same kind (ggml_v_expf).
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const lo = f32x4.splat(-87.33654), hi = f32x4.splat(88.72283);
  // pmin/pmax: one instruction each (f32x4.min/max order NaNs and signed zeros at several); the same
  // clamp for every input, NaN included (it stays NaN)
  const xc = f32x4.pmin(f32x4.pmax(x, lo), hi);
  const n = f32x4.floor(madd(xc, f32x4.splat(1.44269504088896341), f32x4.splat(0.5)));
  let r = madd(n, f32x4.splat(-0.693359375), xc);
  r = madd(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(madd(p, f32x4.mul(r, r), r), f32x4.splat(1));
  // 2^n: n in [-126, 128]; n = 128 only at the top clamp, where the result overflows to inf below
  // n is a whole number in [-126, 128]: the plain conversion (relaxed) is exact, no saturation needed
  const ni = ASC_FEATURE_RELAXED_SIMD ? i32x4.relaxed_trunc_f32x4_s(n) : i32x4.trunc_sat_f32x4_s(n);
  const e = i32x4.shl(i32x4.add(ni, i32x4.splat(127)), 23);
  const out = v128.bitselect(f32x4.splat(Infinity), f32x4.mul(y, e), f32x4.gt(x, hi));
  return v128.andnot(out, f32x4.lt(x, lo));
}

/** out[i] = silu(g[i]) · u[i] = g / (1 + e^-g) · u, n values (f32). */
export function silu_mul(g: usize, u: usize, out: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const off = <usize>i << 2;
    const gv = v128.load(g + off);
    const s = f32x4.div(gv, f32x4.add(one, exp4(f32x4.neg(gv))));
    v128.store(out + off, f32x4.mul(s, v128.load(u + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const gv = f32x4.splat(load<f32>(g + off));
    const s = f32x4.div(gv, f32x4.add(one, exp4(f32x4.neg(gv))));
    store<f32>(out + off, f32x4.extract_lane(s, 0) * load<f32>(u + off));
  }
}

/** Query-key dots of four query rows (q0 + i·qHead) against keys [0, t], scaled, into four score rows (stride sStride bytes). */
export function dots4(q0: usize, qHead: usize, k0: usize, kStride: usize, t: i32, d4: i32, scale: f32, sc: usize, sStride: usize): void {
  const q1 = q0 + qHead, q2 = q1 + qHead, q3 = q2 + qHead;
  let s = 0;
  // two keys × four queries per pass: each loaded key vector serves four queries, each query vector two keys
  for (; s + 1 <= t; s += 2) {
    const ka = k0 + <usize>s * kStride, kb = ka + kStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const off = <usize>j << 2;
      const x = v128.load(ka + off), y = v128.load(kb + off);
      let qv = v128.load(q0 + off); a0 = madd(qv, x, a0); b0 = madd(qv, y, b0);
      qv = v128.load(q1 + off); a1 = madd(qv, x, a1); b1 = madd(qv, y, b1);
      qv = v128.load(q2 + off); a2 = madd(qv, x, a2); b2 = madd(qv, y, b2);
      qv = v128.load(q3 + off); a3 = madd(qv, x, a3); b3 = madd(qv, y, b3);
    }
    const p = sc + (<usize>s << 2);
    store<f32>(p, hsum(a0) * scale); store<f32>(p + 4, hsum(b0) * scale);
    store<f32>(p + sStride, hsum(a1) * scale); store<f32>(p + sStride + 4, hsum(b1) * scale);
    store<f32>(p + 2 * sStride, hsum(a2) * scale); store<f32>(p + 2 * sStride + 4, hsum(b2) * scale);
    store<f32>(p + 3 * sStride, hsum(a3) * scale); store<f32>(p + 3 * sStride + 4, hsum(b3) * scale);
  }
  if (s <= t) {
    const ka = k0 + <usize>s * kStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const off = <usize>j << 2;
      const x = v128.load(ka + off);
      a0 = madd(v128.load(q0 + off), x, a0); a1 = madd(v128.load(q1 + off), x, a1);
      a2 = madd(v128.load(q2 + off), x, a2); a3 = madd(v128.load(q3 + off), x, a3);
    }
    const p = sc + (<usize>s << 2);
    store<f32>(p, hsum(a0) * scale); store<f32>(p + sStride, hsum(a1) * scale);
    store<f32>(p + 2 * sStride, hsum(a2) * scale); store<f32>(p + 3 * sStride, hsum(a3) * scale);
  }
}

/** Query-key dots of one query row against keys [0, t], scaled, into sc (any head size). */
export function dots1(qr: usize, k0: usize, kStride: usize, t: i32, d: i32, scale: f32, sc: usize): void {
  const d4 = d & ~3;
  let s = 0;
  // four keys per pass: four independent accumulator chains
  for (; s + 3 <= t; s += 4) {
    const ka = k0 + <usize>s * kStride, kb = ka + kStride, kc = kb + kStride, kd = kc + kStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const off = <usize>j << 2;
      const qv = v128.load(qr + off);
      a0 = madd(qv, v128.load(ka + off), a0); a1 = madd(qv, v128.load(kb + off), a1);
      a2 = madd(qv, v128.load(kc + off), a2); a3 = madd(qv, v128.load(kd + off), a3);
    }
    let e0 = hsum(a0), e1 = hsum(a1), e2 = hsum(a2), e3 = hsum(a3);
    for (let j = d4; j < d; j++) {
      const qj = load<f32>(qr + (<usize>j << 2)), off = <usize>j << 2;
      e0 += qj * load<f32>(ka + off); e1 += qj * load<f32>(kb + off); e2 += qj * load<f32>(kc + off); e3 += qj * load<f32>(kd + off);
    }
    const p = sc + (<usize>s << 2);
    store<f32>(p, e0 * scale); store<f32>(p + 4, e1 * scale); store<f32>(p + 8, e2 * scale); store<f32>(p + 12, e3 * scale);
  }
  for (; s <= t; s++) {
    const kr = k0 + <usize>s * kStride;
    let acc = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) acc = madd(v128.load(qr + (<usize>j << 2)), v128.load(kr + (<usize>j << 2)), acc);
    let dot = hsum(acc);
    for (let j = d4; j < d; j++) dot += load<f32>(qr + (<usize>j << 2)) * load<f32>(kr + (<usize>j << 2));
    store<f32>(sc + (<usize>s << 2), dot * scale);
  }
}

/** Softmax of scores [0, t] in place (f32, max subtracted) and out = Σ_s p_s · v_s for one query row. */
function softmaxValues(sc: usize, t: i32, v0: usize, kStride: usize, d: i32, orow: usize): void {
  valuesRow(sc, t, v0, kStride, d, orow, softmaxRow(sc, t));
}

/** e^(score − max) of scores [0, t] in place (f32; lanes past t zeroed); returns 1 / their sum. */
export function softmaxRow(sc: usize, t: i32): f32 {
  const n = t + 1;
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  // pmax: one instruction; differs from f32x4.max only in which zero or NaN it keeps, which changes no e^(s − max) below
  for (; i + 3 < n; i += 4) mv = f32x4.pmax(mv, v128.load(sc + (<usize>i << 2)));
  let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; i < n; i++) mx = max(mx, load<f32>(sc + (<usize>i << 2)));
  // e^(score - max) four at a time; lanes past t are zeroed so the sum (lane-wise, then across) skips them
  mv = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) {
    const p = sc + (<usize>i << 2);
    let e = exp4(f32x4.sub(v128.load(p), mv));
    if (i + 4 > n) {
      const lane = i32x4.add(i32x4.splat(i), v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0));
      e = v128.and(e, i32x4.lt_s(lane, i32x4.splat(n)));
    }
    v128.store(p, e);
    sv = f32x4.add(sv, e);
  }
  return 1 / hsum(sv);
}

/** out = inv · Σ_s p_s · v_s over s in [0, t] (p: the row sc) for one query row. */
export function valuesRow(sc: usize, t: i32, v0: usize, kStride: usize, d: i32, orow: usize, inv: f32): void {
  const d4 = d & ~3;
  let j = 0;
  // eight lane groups (32 dims) per pass over s: each score is loaded once per pass;
  // every output lane still sums over s in ascending order
  for (; j + 31 < d4; j += 32) {
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
    let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
    for (let s = 0; s <= t; s++) {
      const p = f32x4.splat(load<f32>(sc + (<usize>s << 2)));
      const vr = v0 + <usize>s * kStride + (<usize>j << 2);
      c0 = madd(p, v128.load(vr), c0);
      c1 = madd(p, v128.load(vr + 16), c1);
      c2 = madd(p, v128.load(vr + 32), c2);
      c3 = madd(p, v128.load(vr + 48), c3);
      c4 = madd(p, v128.load(vr + 64), c4);
      c5 = madd(p, v128.load(vr + 80), c5);
      c6 = madd(p, v128.load(vr + 96), c6);
      c7 = madd(p, v128.load(vr + 112), c7);
    }
    const iv = f32x4.splat(inv), o = orow + (<usize>j << 2);
    v128.store(o, f32x4.mul(c0, iv)); v128.store(o + 16, f32x4.mul(c1, iv));
    v128.store(o + 32, f32x4.mul(c2, iv)); v128.store(o + 48, f32x4.mul(c3, iv));
    v128.store(o + 64, f32x4.mul(c4, iv)); v128.store(o + 80, f32x4.mul(c5, iv));
    v128.store(o + 96, f32x4.mul(c6, iv)); v128.store(o + 112, f32x4.mul(c7, iv));
  }
  for (; j < d4; j += 4) {
    let acc = f32x4.splat(0);
    for (let s = 0; s <= t; s++) acc = madd(f32x4.splat(load<f32>(sc + (<usize>s << 2))), v128.load(v0 + <usize>s * kStride + (<usize>j << 2)), acc);
    v128.store(orow + (<usize>j << 2), f32x4.mul(acc, f32x4.splat(inv)));
  }
  for (let j = d4; j < d; j++) {
    let acc: f32 = 0;
    for (let s = 0; s <= t; s++) acc += load<f32>(sc + (<usize>s << 2)) * load<f32>(v0 + <usize>s * kStride + (<usize>j << 2));
    store<f32>(orow + (<usize>j << 2), acc * inv);
  }
}

/**
 * valuesRow for the four query heads that share a KV head (d % 8 == 0; p rows sc + i·sStride, outputs
 * o0 + i·qHead): each value vector loaded serves all four, so the KV head's values are streamed from
 * cache once per query position instead of four times. Every output lane still sums over s in
 * ascending order with the same fused multiply-adds as valuesRow.
 */
export function values4(sc: usize, sStride: usize, t: i32, v0: usize, kStride: usize, d: i32, o0: usize, qHead: usize, i0: f32, i1: f32, i2: f32, i3: f32): void {
  const s1 = sc + sStride, s2 = s1 + sStride, s3 = s2 + sStride;
  for (let j = 0; j < d; j += 8) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), e0 = f32x4.splat(0), e1 = f32x4.splat(0);
    let vr = v0 + (<usize>j << 2);
    for (let s = 0; s <= t; s++) {
      const so = <usize>s << 2;
      const x = v128.load(vr), y = v128.load(vr + 16);
      let p = f32x4.splat(load<f32>(sc + so)); a0 = madd(p, x, a0); a1 = madd(p, y, a1);
      p = f32x4.splat(load<f32>(s1 + so)); b0 = madd(p, x, b0); b1 = madd(p, y, b1);
      p = f32x4.splat(load<f32>(s2 + so)); c0 = madd(p, x, c0); c1 = madd(p, y, c1);
      p = f32x4.splat(load<f32>(s3 + so)); e0 = madd(p, x, e0); e1 = madd(p, y, e1);
      vr += kStride;
    }
    let o = o0 + (<usize>j << 2), iv = f32x4.splat(i0);
    v128.store(o, f32x4.mul(a0, iv)); v128.store(o + 16, f32x4.mul(a1, iv));
    o += qHead; iv = f32x4.splat(i1);
    v128.store(o, f32x4.mul(b0, iv)); v128.store(o + 16, f32x4.mul(b1, iv));
    o += qHead; iv = f32x4.splat(i2);
    v128.store(o, f32x4.mul(c0, iv)); v128.store(o + 16, f32x4.mul(c1, iv));
    o += qHead; iv = f32x4.splat(i3);
    v128.store(o, f32x4.mul(e0, iv)); v128.store(o + 16, f32x4.mul(e1, iv));
  }
}

/**
 * Causal attention of one sequence: k, v T×(nKv·d); q and out hold the queries
 * of positions [t0, T) ((T − t0)×(nHead·d): a caller that needs only the last
 * positions' outputs passes only their queries); query head h reads KV head
 * h / (nHead / nKv). `scores` is scratch of 4·(T + 4) f32. Softmax in f32 with
 * the max subtracted. Where four query heads share a KV head (and d % 4 == 0)
 * their query-key dots run together (four queries × two keys per pass), else
 * one head at a time (four keys per pass); each dot sums its lanes over j in
 * order either way, so a position's output does not depend on t0.
 */
export function attention(q: usize, k: usize, v: usize, out: usize, T: i32, nHead: i32, nKv: i32, d: i32, scale: f32, scores: usize, t0: i32): void {
  const group = nHead / nKv;
  const qStride = <usize>(nHead * d) << 2, kStride = <usize>(nKv * d) << 2, qHead = <usize>d << 2;
  const sStride = <usize>(T + 4) << 2;
  const four = group % 4 == 0 && (d & 3) == 0;
  for (let kh = 0; kh < nKv; kh++) {
    const khOff = <usize>(kh * d) << 2;
    for (let h = kh * group; h < (kh + 1) * group; h += four ? 4 : 1) {
      for (let t = t0; t < T; t++) {
        const qr = q + <usize>(t - t0) * qStride + <usize>h * qHead;
        if (four) dots4(qr, qHead, k + khOff, kStride, t, d, scale, scores, sStride);
        else dots1(qr, k + khOff, kStride, t, d, scale, scores);
        const orow = out + <usize>(t - t0) * qStride + <usize>h * qHead;
        if (four && (d & 7) == 0) {
          const i0 = softmaxRow(scores, t), i1 = softmaxRow(scores + sStride, t);
          const i2 = softmaxRow(scores + 2 * sStride, t), i3 = softmaxRow(scores + 3 * sStride, t);
          values4(scores, sStride, t, v + khOff, kStride, d, orow, qHead, i0, i1, i2, i3);
        } else {
          const nh = four ? 4 : 1;
          for (let i = 0; i < nh; i++) softmaxValues(scores + <usize>i * sStride, t, v + khOff, kStride, d, orow + <usize>i * qHead);
        }
      }
    }
  }
}

/** Rounds n f32 values in place to the nearest IEEE half (llama.cpp's F16 KV cache and F16 matmul inputs); ggml's conversion bits, four lanes at a time. */
export function round_f16(p: usize, n: i32): void {
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a = p + (<usize>i << 2);
    v128.store(a, halfToFloat4(floatToHalf4(v128.load(a))));
  }
  for (; i < n; i++) {
    const a = p + (<usize>i << 2);
    store<f32>(a, f32x4.extract_lane(fp16ToFp32x4(fp32ToFp16x4(f32x4.splat(load<f32>(a)))), 0));
  }
}

/**
 * common.ts fp16ToFp32x4 (ggml's bit operations, the same results) with its unsigned compare
 * "2h < 2^27" written as "top five bits clear", which SIMD does in two instructions instead of an
 * unsigned-compare emulation.
 */
// @ts-ignore: decorator
@inline function halfToFloat4(h: v128): v128 {
  const w = i32x4.shl(h, 16);
  const sign = v128.and(w, i32x4.splat(0x80000000));
  const twoW = i32x4.add(w, w);
  const normalized = f32x4.mul(i32x4.add(i32x4.shr_u(twoW, 4), i32x4.splat(0xe0 << 23)), f32x4.splat(reinterpret<f32>(<u32>0x07800000)));
  const denormalized = f32x4.sub(v128.or(i32x4.shr_u(twoW, 17), i32x4.splat(126 << 23)), f32x4.splat(0.5));
  const small = i32x4.eq(v128.and(twoW, i32x4.splat(0xf8000000)), i32x4.splat(0));
  return v128.or(sign, v128.bitselect(denormalized, normalized, small));
}

/**
 * common.ts fp32ToFp16x4 (ggml's bit operations, the same results) with its NaN test "2·bits >
 * 0xff000000 unsigned" written as the equivalent signed "|bits| > 0x7f800000" (one instruction).
 */
// @ts-ignore: decorator
@inline function floatToHalf4(f: v128): v128 {
  let base = f32x4.mul(f32x4.mul(f32x4.abs(f), f32x4.splat(reinterpret<f32>(<u32>0x77800000))), f32x4.splat(reinterpret<f32>(<u32>0x08800000)));
  const shl1w = i32x4.add(f, f);
  const sign = v128.and(f, i32x4.splat(0x80000000));
  const bias = i32x4.max_u(v128.and(shl1w, i32x4.splat(0xff000000)), i32x4.splat(0x71000000));
  base = f32x4.add(i32x4.add(i32x4.shr_u(bias, 1), i32x4.splat(0x07800000)), base);
  const nonsign = i32x4.add(v128.and(i32x4.shr_u(base, 13), i32x4.splat(0x00007c00)), v128.and(base, i32x4.splat(0x00000fff)));
  const nan = i32x4.gt_s(v128.and(f, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.or(i32x4.shr_u(sign, 16), v128.bitselect(i32x4.splat(0x7e00), nonsign, nan));
}

/** n little-endian F16 values at src -> f32 at dst (the streamed pass's weights, decoded where the matmul reads them); ggml's bit operations, as dequantize_f16. */
export function f16_to_f32(src: usize, dst: usize, n: i32): void {
  let i: usize = 0;
  for (; i + 8 <= <usize>n; i += 8) {
    const h = v128.load(src + (i << 1));
    v128.store(dst + (i << 2), halfToFloat4(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (i << 2), halfToFloat4(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < <usize>n; i++) store<f32>(dst + (i << 2), fp16ToFp32(load<u16>(src + (i << 1))));
}

/**
 * acc[j] = Σ_t x[t, j]² over the T rows of x (T×cols), t ascending, each product and sum rounded to
 * f32 (mul and add, not fused: llama-imatrix's in_sum2 accumulation as the JS loop does it).
 */
export function sum_squares(x: usize, T: i32, cols: i32, acc: usize): void {
  const rowBytes = <usize>cols << 2;
  let j = 0;
  for (; j + 15 < cols; j += 16) {
    let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), e = f32x4.splat(0);
    let p = x + (<usize>j << 2);
    for (let t = 0; t < T; t++) {
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      a = f32x4.add(a, f32x4.mul(v0, v0)); b = f32x4.add(b, f32x4.mul(v1, v1));
      c = f32x4.add(c, f32x4.mul(v2, v2)); e = f32x4.add(e, f32x4.mul(v3, v3));
      p += rowBytes;
    }
    const o = acc + (<usize>j << 2);
    v128.store(o, a); v128.store(o, b, 16); v128.store(o, c, 32); v128.store(o, e, 48);
  }
  for (; j < cols; j++) {
    let s: f32 = 0;
    for (let t = 0; t < T; t++) { const v = load<f32>(x + <usize>t * rowBytes + (<usize>j << 2)); s += v * v; }
    store<f32>(acc + (<usize>j << 2), s);
  }
}
