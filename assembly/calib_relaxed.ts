import { dots1, dots4, exp4, madd, softmaxRow, values4, valuesRow } from "./forward_ops";
import { fisherEdges } from "./calib_backward";

// quantscope calibrate's kernels in the relaxed-SIMD module (exported from
// assembly/forward_relaxed.ts -> build/forward-relaxed.wasm, where madd is one
// fused multiply-add): the attention backward as blocked products, the
// SwiGLU forward keeping sigmoid(gate) and its backward, RMSNorm and RoPE
// backward, the f64 column sums of squares (in_sum2), the Fisher marginals
// and ∂L/∂x = dy·W from W as stored. The host is src/model/calibrate/kernels.ts.

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * Dots of four rows (r0..r3) with keys [0, kEnd) (rows of kStride bytes from k0), scaled, into
 * four rows of out (stride oStride bytes); d % 4 == 0. Two keys × four rows per pass: each
 * loaded key vector serves four rows, each row vector two keys.
 */
function dots4x2(r0: usize, r1: usize, r2: usize, r3: usize, k0: usize, kStride: usize, kEnd: i32, d: i32, scale: f32, out: usize, oStride: usize): void {
  let s = 0;
  for (; s + 1 < kEnd; s += 2) {
    const ka = k0 + <usize>s * kStride, kb = ka + kStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    for (let j = 0; j < d; j += 4) {
      const off = <usize>j << 2;
      const x = v128.load(ka + off), y = v128.load(kb + off);
      let q = v128.load(r0 + off); a0 = madd(q, x, a0); b0 = madd(q, y, b0);
      q = v128.load(r1 + off); a1 = madd(q, x, a1); b1 = madd(q, y, b1);
      q = v128.load(r2 + off); a2 = madd(q, x, a2); b2 = madd(q, y, b2);
      q = v128.load(r3 + off); a3 = madd(q, x, a3); b3 = madd(q, y, b3);
    }
    const p = out + (<usize>s << 2);
    store<f32>(p, hsum(a0) * scale); store<f32>(p + 4, hsum(b0) * scale);
    store<f32>(p + oStride, hsum(a1) * scale); store<f32>(p + oStride + 4, hsum(b1) * scale);
    store<f32>(p + 2 * oStride, hsum(a2) * scale); store<f32>(p + 2 * oStride + 4, hsum(b2) * scale);
    store<f32>(p + 3 * oStride, hsum(a3) * scale); store<f32>(p + 3 * oStride + 4, hsum(b3) * scale);
  }
  if (s < kEnd) {
    const ka = k0 + <usize>s * kStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let j = 0; j < d; j += 4) {
      const off = <usize>j << 2;
      const x = v128.load(ka + off);
      a0 = madd(v128.load(r0 + off), x, a0); a1 = madd(v128.load(r1 + off), x, a1);
      a2 = madd(v128.load(r2 + off), x, a2); a3 = madd(v128.load(r3 + off), x, a3);
    }
    const p = out + (<usize>s << 2);
    store<f32>(p, hsum(a0) * scale); store<f32>(p + oStride, hsum(a1) * scale);
    store<f32>(p + 2 * oStride, hsum(a2) * scale); store<f32>(p + 3 * oStride, hsum(a3) * scale);
  }
}

/** Writes one probability row: prow[s] = e[s]·inv for s in [0, t] and the zeros after it through t's block of four (as attention_back_fma normalises it). */
// @ts-ignore: decorator
@inline function keepRow(sc: usize, t: i32, inv: f32, prow: usize): void {
  const iv = f32x4.splat(inv);
  for (let s = 0; s <= t; s += 4) v128.store(prow + (<usize>s << 2), f32x4.mul(v128.load(sc + (<usize>s << 2)), iv));
}

/**
 * The forward pass's causal attention (forward_ops attention with t0 = 0: the same helpers on the same
 * values, so the same output bits) that also keeps every query's softmax probabilities for the
 * backward pass: head h's row t at P + (h·Tp + t)·Tp·4 holds e^(score − max)·(1/Σ) for keys [0, t]
 * and zeros through the end of t's block of four, rows [T, Tp) are zero (Tp = T rounded up to 4):
 * the values attention_back_fma computes when it recomputes them, bit for bit, since its dots,
 * maximum, exponentials and sums are these in the same order.
 */
export function attention_keep(q: usize, k: usize, v: usize, out: usize, T: i32, nHead: i32, nKv: i32, d: i32, scale: f32, scores: usize, P: usize): void {
  const group = nHead / nKv;
  const qStride = <usize>(nHead * d) << 2, kStride = <usize>(nKv * d) << 2, qHead = <usize>d << 2;
  const sStride = <usize>(T + 4) << 2;
  const Tp = (T + 3) & ~3, pStride = <usize>Tp << 2, pHead = <usize>Tp * pStride;
  const four = group % 4 == 0 && (d & 3) == 0;
  for (let kh = 0; kh < nKv; kh++) {
    const khOff = <usize>(kh * d) << 2;
    for (let h = kh * group; h < (kh + 1) * group; h += four ? 4 : 1) {
      for (let t = 0; t < T; t++) {
        const qr = q + <usize>t * qStride + <usize>h * qHead;
        if (four) dots4(qr, qHead, k + khOff, kStride, t, d, scale, scores, sStride);
        else dots1(qr, k + khOff, kStride, t, d, scale, scores);
        const orow = out + <usize>t * qStride + <usize>h * qHead;
        const prow = P + <usize>h * pHead + <usize>t * pStride;
        if (four && (d & 7) == 0) {
          const i0 = softmaxRow(scores, t), i1 = softmaxRow(scores + sStride, t);
          const i2 = softmaxRow(scores + 2 * sStride, t), i3 = softmaxRow(scores + 3 * sStride, t);
          keepRow(scores, t, i0, prow); keepRow(scores + sStride, t, i1, prow + pHead);
          keepRow(scores + 2 * sStride, t, i2, prow + 2 * pHead); keepRow(scores + 3 * sStride, t, i3, prow + 3 * pHead);
          values4(scores, sStride, t, v + khOff, kStride, d, orow, qHead, i0, i1, i2, i3);
        } else {
          const nh = four ? 4 : 1;
          for (let i = 0; i < nh; i++) {
            const sc = scores + <usize>i * sStride, inv = softmaxRow(sc, t);
            keepRow(sc, t, inv, prow + <usize>i * pHead);
            valuesRow(sc, t, v + khOff, kStride, d, orow + <usize>i * qHead, inv);
          }
        }
      }
    }
  }
  if (Tp > T) for (let h = 0; h < nHead; h++) memory.fill(P + <usize>h * pHead + <usize>T * pStride, 0, <usize>(Tp - T) * pStride);
}

/**
 * Backward of causal attention (layout as attention_fma: q, dout T×(nHead·d),
 * k, v T×(nKv·d); head h reads KV head h / (nHead / nKv)), per head as five
 * blocked products: P = softmax(scale·QKᵀ) and dP = dO·Vᵀ (four queries × two
 * keys per pass), dS = P∘(dP − rowsum(P∘dP))·scale, dQ = dS·K (four queries ×
 * eight dims in registers), and dV += Pᵀ·dO, dK += dSᵀ·Q (four keys × eight
 * dims in registers, over the queries). dq is written, dk and dv are added to
 * (the caller zeroes them). P and dS: scratch of Tp·Tp f32 each, Tp = T
 * rounded up to 4. Needs d % 8 == 0.
 */
export function attention_back_fma(q: usize, k: usize, v: usize, dout: usize, dq: usize, dk: usize, dv: usize,
  T: i32, nHead: i32, nKv: i32, d: i32, scale: f32, P: usize, dS: usize, kept: usize): void {
  const group = nHead / nKv;
  const Tp = (T + 3) & ~3;
  const qStride = <usize>(nHead * d) << 2, kStride = <usize>(nKv * d) << 2, pStride = <usize>Tp << 2;
  const zero = f32x4.splat(0);
  for (let h = 0; h < nHead; h++) {
    const kh = h / group;
    if (kept) P = kept + <usize>h * <usize>Tp * pStride; // this head's probabilities, from attention_keep
    const qh = q + (<usize>(h * d) << 2), oh = dout + (<usize>(h * d) << 2), dqh = dq + (<usize>(h * d) << 2);
    const kk = k + (<usize>(kh * d) << 2), vv = v + (<usize>(kh * d) << 2);
    const dkk = dk + (<usize>(kh * d) << 2), dvv = dv + (<usize>(kh * d) << 2);
    // rows of P and dS, four queries at a time
    for (let t0 = 0; t0 < T; t0 += 4) {
      const nt = min(4, T - t0), kEnd = min(t0 + 4, T);
      const last = <usize>(T - 1);
      const ta = <usize>t0, tb = min(<usize>(t0 + 1), last), tc = min(<usize>(t0 + 2), last), td = min(<usize>(t0 + 3), last);
      const prow = P + ta * pStride, srow = dS + ta * pStride;
      if (!kept) dots4x2(qh + ta * qStride, qh + tb * qStride, qh + tc * qStride, qh + td * qStride, kk, kStride, kEnd, d, scale, prow, pStride);
      dots4x2(oh + ta * qStride, oh + tb * qStride, oh + tc * qStride, oh + td * qStride, vv, kStride, kEnd, d, 1, srow, pStride);
      for (let i = 0; i < 4; i++) {
        const pr = prow + <usize>i * pStride, sr = srow + <usize>i * pStride;
        if (i >= nt) {
          // past the last query: zero rows, read (and ignored) by the dQ tiles below (kept rows past T are zero)
          for (let s = 0; s < t0 + 4; s += 4) { if (!kept) v128.store(pr + (<usize>s << 2), zero); v128.store(sr + (<usize>s << 2), zero); }
          continue;
        }
        for (let s = kEnd; s < t0 + 4; s++) store<f32>(sr + (<usize>s << 2), 0); // keys past T
        const n = t0 + i + 1;
        if (kept) {
          // the kept probabilities: dS = P∘(dP − rowsum(P∘dP))·scale as below
          let dot = zero;
          for (let s = 0; s < n; s += 4) dot = madd(v128.load(pr + (<usize>s << 2)), v128.load(sr + (<usize>s << 2)), dot);
          const rd = f32x4.splat(hsum(dot)), sc = f32x4.splat(scale);
          for (let s = 0; s < n; s += 4) {
            const p = sr + (<usize>s << 2);
            v128.store(p, f32x4.mul(f32x4.mul(v128.load(pr + (<usize>s << 2)), f32x4.sub(v128.load(p), rd)), sc));
          }
          continue;
        }
        let mx: f32 = -Infinity;
        for (let s = 0; s < n; s++) mx = max(mx, load<f32>(pr + (<usize>s << 2)));
        // e^(score − max) four at a time, lanes past the query zeroed (through the block's end, t0 + 3)
        const mv = f32x4.splat(mx);
        let sv = zero;
        for (let s = 0; s < n; s += 4) {
          const p = pr + (<usize>s << 2);
          let e = exp4(f32x4.sub(v128.load(p), mv));
          if (s + 4 > n) {
            const lane = i32x4.add(i32x4.splat(s), v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0));
            e = v128.and(e, i32x4.lt_s(lane, i32x4.splat(n)));
          }
          v128.store(p, e);
          sv = f32x4.add(sv, e);
        }
        const inv = f32x4.splat(<f32>1 / hsum(sv));
        let dot = zero;
        for (let s = 0; s < n; s += 4) {
          const p = pr + (<usize>s << 2);
          const pv = f32x4.mul(v128.load(p), inv);
          v128.store(p, pv);
          dot = madd(pv, v128.load(sr + (<usize>s << 2)), dot);
        }
        const rd = f32x4.splat(hsum(dot)), sc = f32x4.splat(scale);
        for (let s = 0; s < n; s += 4) {
          const p = sr + (<usize>s << 2);
          v128.store(p, f32x4.mul(f32x4.mul(v128.load(pr + (<usize>s << 2)), f32x4.sub(v128.load(p), rd)), sc));
        }
      }
      // dQ rows t0..t0+3 = dS · K, eight dims at a time
      for (let j = 0; j < d; j += 8) {
        let a0 = zero, a1 = zero, b0 = zero, b1 = zero, c0 = zero, c1 = zero, e0 = zero, e1 = zero;
        let kr = kk + (<usize>j << 2), sp = srow;
        for (let s = 0; s < kEnd; s++) {
          const x = v128.load(kr), y = v128.load(kr, 16);
          let g = v128.load32_splat(sp); a0 = madd(g, x, a0); a1 = madd(g, y, a1);
          g = v128.load32_splat(sp + pStride); b0 = madd(g, x, b0); b1 = madd(g, y, b1);
          g = v128.load32_splat(sp + 2 * pStride); c0 = madd(g, x, c0); c1 = madd(g, y, c1);
          g = v128.load32_splat(sp + 3 * pStride); e0 = madd(g, x, e0); e1 = madd(g, y, e1);
          kr += kStride; sp += 4;
        }
        const o = dqh + ta * qStride + (<usize>j << 2);
        v128.store(o, a0); v128.store(o, a1, 16);
        if (nt > 1) { v128.store(o + qStride, b0); v128.store(o + qStride, b1, 16); }
        if (nt > 2) { v128.store(o + 2 * qStride, c0); v128.store(o + 2 * qStride, c1, 16); }
        if (nt > 3) { v128.store(o + 3 * qStride, e0); v128.store(o + 3 * qStride, e1, 16); }
      }
    }
    // dV rows s0..s0+3 += Pᵀ·dO and dK rows += dSᵀ·Q over the queries t ≥ s0 (P, dS are zero where t < s)
    for (let s0 = 0; s0 < T; s0 += 4) {
      const ns = min(4, T - s0);
      for (let pass = 0; pass < 2; pass++) {
        const M = pass == 0 ? P : dS, src = pass == 0 ? oh : qh, dst = pass == 0 ? dvv : dkk;
        for (let j = 0; j < d; j += 8) {
          let a0 = zero, a1 = zero, b0 = zero, b1 = zero, c0 = zero, c1 = zero, e0 = zero, e1 = zero;
          let mr = M + <usize>s0 * pStride + (<usize>s0 << 2), xr = src + <usize>s0 * qStride + (<usize>j << 2);
          for (let t = s0; t < T; t++) {
            const x = v128.load(xr), y = v128.load(xr, 16);
            // broadcast loads (one instruction each) rather than one load and four lane shuffles
            let g = v128.load32_splat(mr); a0 = madd(g, x, a0); a1 = madd(g, y, a1);
            g = v128.load32_splat(mr, 4); b0 = madd(g, x, b0); b1 = madd(g, y, b1);
            g = v128.load32_splat(mr, 8); c0 = madd(g, x, c0); c1 = madd(g, y, c1);
            g = v128.load32_splat(mr, 12); e0 = madd(g, x, e0); e1 = madd(g, y, e1);
            mr += pStride; xr += qStride;
          }
          const o = dst + <usize>s0 * kStride + (<usize>j << 2);
          v128.store(o, f32x4.add(v128.load(o), a0)); v128.store(o, f32x4.add(v128.load(o, 16), a1), 16);
          if (ns > 1) { const p = o + kStride; v128.store(p, f32x4.add(v128.load(p), b0)); v128.store(p, f32x4.add(v128.load(p, 16), b1), 16); }
          if (ns > 2) { const p = o + 2 * kStride; v128.store(p, f32x4.add(v128.load(p), c0)); v128.store(p, f32x4.add(v128.load(p, 16), c1), 16); }
          if (ns > 3) { const p = o + 3 * kStride; v128.store(p, f32x4.add(v128.load(p), e0)); v128.store(p, f32x4.add(v128.load(p, 16), e1), 16); }
        }
      }
    }
  }
}

/**
 * a = silu(g)·u exactly as silu_mul computes it (the forward pass's SwiGLU: g / (1 + e^-g) · u,
 * the same instructions, so the same bits) and sg = sigmoid(g) = 1 / (1 + e^-g) for the backward
 * pass; n values.
 */
export function swiglu_keep(g: usize, u: usize, a: usize, sg: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const off = <usize>i << 2;
    const gv = v128.load(g + off);
    const e = f32x4.add(one, exp4(f32x4.neg(gv)));
    v128.store(a + off, f32x4.mul(f32x4.div(gv, e), v128.load(u + off)));
    v128.store(sg + off, f32x4.div(one, e));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const gv = f32x4.splat(load<f32>(g + off));
    const e = f32x4.add(one, exp4(f32x4.neg(gv)));
    store<f32>(a + off, f32x4.extract_lane(f32x4.div(gv, e), 0) * load<f32>(u + off));
    store<f32>(sg + off, f32x4.extract_lane(f32x4.div(one, e), 0));
  }
}

/** SwiGLU backward: dup = da·z·σ, dgt = da·u·σ·(1 + z·(1 − σ)) with z the gate, σ = sigmoid(z) kept by swiglu_keep. */
export function swiglu_back(da: usize, z: usize, u: usize, sg: usize, dgt: usize, dup: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const off = <usize>i << 2;
    const d = v128.load(da + off), zv = v128.load(z + off), s = v128.load(sg + off);
    const ds = f32x4.mul(d, s);
    v128.store(dup + off, f32x4.mul(ds, zv));
    v128.store(dgt + off, f32x4.mul(f32x4.mul(ds, v128.load(u + off)), madd(zv, f32x4.sub(one, s), one)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const d = load<f32>(da + off), zv = load<f32>(z + off), s = load<f32>(sg + off);
    store<f32>(dup + off, d * s * zv);
    store<f32>(dgt + off, d * s * load<f32>(u + off) * (1 + zv * (1 - s)));
  }
}

/**
 * RMSNorm backward over rows of n (n % 4 == 0) with weight g (0: none): dx = s·g·dy − x·s³·(Σ x·g·dy)/n,
 * s = 1/√(Σx²/n + eps) (sums in f64 over f32x4 lane partials), plus res (0: none) elementwise.
 */
export function rms_norm_back(x: usize, dy: usize, g: usize, res: usize, dx: usize, rows: i32, n: i32, eps: f64): void {
  const rb = <usize>n << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rb, dr = dy + <usize>r * rb, outr = dx + <usize>r * rb;
    let ss = f32x4.splat(0), dt = f32x4.splat(0);
    for (let j = 0; j < n; j += 4) {
      const off = <usize>j << 2;
      const xv = v128.load(xr + off);
      let d = v128.load(dr + off);
      if (g) d = f32x4.mul(d, v128.load(g + off));
      ss = madd(xv, xv, ss);
      dt = madd(xv, d, dt);
    }
    const s = 1 / Math.sqrt(<f64>hsum(ss) / <f64>n + eps);
    const c = f32x4.splat(<f32>((s * s * s * <f64>hsum(dt)) / <f64>n)), sv = f32x4.splat(<f32>s);
    for (let j = 0; j < n; j += 4) {
      const off = <usize>j << 2;
      let d = v128.load(dr + off);
      if (g) d = f32x4.mul(d, v128.load(g + off));
      let o = f32x4.sub(f32x4.mul(sv, d), f32x4.mul(v128.load(xr + off), c));
      if (res) o = f32x4.add(o, v128.load(res + <usize>r * rb + off));
      v128.store(outr + off, o);
    }
  }
}

/**
 * acc[j] += (scale·x_tj)·x_tj over rows t of data (T × n f32), acc f64: the same f64 operations in
 * the same order as the JS loop it replaces (collect.ts), so the same sums.
 */
export function add_squares(acc: usize, data: usize, T: i32, n: i32, scale: f64): void {
  const sc = f64x2.splat(scale);
  const n4 = n & ~3;
  for (let t = 0; t < T; t++) {
    const dr = data + ((<usize>t * <usize>n) << 2);
    let j = 0;
    for (; j < n4; j += 4) {
      const v = v128.load(dr + (<usize>j << 2));
      const lo = f64x2.promote_low_f32x4(v), hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
      const pa = acc + (<usize>j << 3);
      v128.store(pa, f64x2.add(v128.load(pa), f64x2.mul(f64x2.mul(sc, lo), lo)));
      v128.store(pa, f64x2.add(v128.load(pa, 16), f64x2.mul(f64x2.mul(sc, hi), hi)), 16);
    }
    for (; j < n; j++) {
      const x = <f64>load<f32>(dr + (<usize>j << 2));
      const pa = acc + (<usize>j << 3);
      store<f64>(pa, load<f64>(pa) + scale * x * x);
    }
  }
}

/**
 * Inverse RoPE rotation in place (the backward pass of the forward's rope): per row t and head,
 * pairs (i0, i1) = (2i, 2i+1) ("normal", neox = 0) or (i, i + ropeDim/2) (neox = 1) become
 * (x0·c + x1·s, −x0·s + x1·c) with c, s = cos, sin[t·ropeDim/2 + i] (f64 tables), in f64 as the
 * JS routine computes it.
 */
export function rope_back(x: usize, T: i32, nHead: i32, headDim: i32, ropeDim: i32, cos: usize, sin: usize, neox: i32): void {
  ropeRotate(x, T, nHead, headDim, ropeDim, cos, sin, neox, -1); // the inverse rotation is the one by −angle
}

// Fisher marginals of one weight gradient dW = gᵀx without materialising it (the same statistic as
// fisher_marginals_f32 in assembly/calib_backward.ts, which this replaces where relaxed SIMD runs):
// g (T × rows) the output gradients, x (T × cols) the inputs; adds scale·Σ_j dW_oj² to R[o] and
// scale·Σ_o dW_oj² to C[j] (f64). dW in register tiles of 4 rows × 8 columns (fused multiply-adds
// over t in order; 5- and 6-row tiles, 10 or 12 accumulators, ran at half the speed here),
// from packed panels: all of g as T × 4 panels and all of x as T × 8 panels (scratch:
// T·(rows + cols + 8) f32), visited in blocks
// of ~16 KiB of g panels so that the panels a tile reads stay in L1/L2 (the plain kernel streamed
// all of g once per x panel: for the 1024-row FFN matrices that is 1 MiB per panel, from L3). The
// squares go to R and C in f64x2 lanes, in the order of the scalar loop they replaced (rows
// ascending for each column, 4-column groups ascending for each row: the same sums).

/** Adds one row's 8 squared tile values (a: columns j..j+3, b: j+4..j+7) to R[o] and C[j..j+7], in f64x2 lanes. */
// @ts-ignore: decorator
@inline function addRow8(a: v128, b: v128, o: i32, j: i32, R: usize, C: usize, sc: v128): void {
  const a0 = f64x2.promote_low_f32x4(a), a1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 2, 3));
  const b0 = f64x2.promote_low_f32x4(b), b1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(b, b, 2, 3, 2, 3));
  const qa0 = f64x2.mul(f64x2.mul(a0, a0), sc), qa1 = f64x2.mul(f64x2.mul(a1, a1), sc);
  const qb0 = f64x2.mul(f64x2.mul(b0, b0), sc), qb1 = f64x2.mul(f64x2.mul(b1, b1), sc);
  // R[o] += (q0 + q1) + (q2 + q3), then the same for columns j+4..j+7
  const sa = f64x2.add(v128.shuffle<f64>(qa0, qa1, 0, 2), v128.shuffle<f64>(qa0, qa1, 1, 3));
  const sb = f64x2.add(v128.shuffle<f64>(qb0, qb1, 0, 2), v128.shuffle<f64>(qb0, qb1, 1, 3));
  const pr = R + (<usize>o << 3);
  let r = load<f64>(pr) + (f64x2.extract_lane(sa, 0) + f64x2.extract_lane(sa, 1));
  store<f64>(pr, r + (f64x2.extract_lane(sb, 0) + f64x2.extract_lane(sb, 1)));
  const pc = C + (<usize>j << 3);
  v128.store(pc, f64x2.add(v128.load(pc), qa0)); v128.store(pc, f64x2.add(v128.load(pc, 16), qa1), 16);
  v128.store(pc, f64x2.add(v128.load(pc, 32), qb0), 32); v128.store(pc, f64x2.add(v128.load(pc, 48), qb1), 48);
}

/** Packs columns [c0, c0 + 4·v) of src (T × n) into a contiguous T × 4v panel at dst (v = 1 or 2 vectors per row; vector moves: memory.copy of 16 or 32 bytes is a call per row). */
// @ts-ignore: decorator
@inline function packPanel(src: usize, T: i32, n: i32, c0: i32, v: i32, dst: usize): void {
  const ss = <usize>n << 2;
  let sr = src + (<usize>c0 << 2), dr = dst;
  if (v == 1) {
    for (let t = 0; t < T; t++) { v128.store(dr, v128.load(sr)); sr += ss; dr += 16; }
  } else {
    for (let t = 0; t < T; t++) { v128.store(dr, v128.load(sr)); v128.store(dr, v128.load(sr, 16), 16); sr += ss; dr += 32; }
  }
}

/** One 4 × 8 tile: rows o..o+3 (panel gr, T × 4) against columns j..j+7. */
function fisherTile4(gr: usize, xr: usize, T: i32, o: i32, j: i32, R: usize, C: usize, sc: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let t = 0; t < T; t++) {
    const x0 = v128.load(xr), x1 = v128.load(xr, 16);
    let gv = v128.load32_splat(gr); a00 = madd(gv, x0, a00); a01 = madd(gv, x1, a01);
    gv = v128.load32_splat(gr, 4); a10 = madd(gv, x0, a10); a11 = madd(gv, x1, a11);
    gv = v128.load32_splat(gr, 8); a20 = madd(gv, x0, a20); a21 = madd(gv, x1, a21);
    gv = v128.load32_splat(gr, 12); a30 = madd(gv, x0, a30); a31 = madd(gv, x1, a31);
    xr += 32; gr += 16;
  }
  addRow8(a00, a01, o, j, R, C, sc); addRow8(a10, a11, o + 1, j, R, C, sc);
  addRow8(a20, a21, o + 2, j, R, C, sc); addRow8(a30, a31, o + 3, j, R, C, sc);
}

/**
 * packPanel of a 4- or 8-column panel that also adds (scale·v)·v of each packed value to acc (f64, one
 * per column, at acc + 8·c0), over t in order: add_squares' operations on the same values, so the
 * same sums (out_grad2 and in_sum2 come out of the Fisher kernel's packing pass).
 */
function packPanelSquares(src: usize, T: i32, n: i32, c0: i32, v: i32, dst: usize, acc: usize, scale: f64): void {
  const ss = <usize>n << 2, sc = f64x2.splat(scale);
  const pa = acc + (<usize>c0 << 3);
  let q0 = v128.load(pa), q1 = v128.load(pa, 16);
  let sr = src + (<usize>c0 << 2), dr = dst;
  if (v == 1) {
    for (let t = 0; t < T; t++) {
      const x = v128.load(sr);
      v128.store(dr, x);
      const lo = f64x2.promote_low_f32x4(x), hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
      q0 = f64x2.add(q0, f64x2.mul(f64x2.mul(sc, lo), lo)); q1 = f64x2.add(q1, f64x2.mul(f64x2.mul(sc, hi), hi));
      sr += ss; dr += 16;
    }
  } else {
    let q2 = v128.load(pa, 32), q3 = v128.load(pa, 48);
    for (let t = 0; t < T; t++) {
      const x = v128.load(sr), y = v128.load(sr, 16);
      v128.store(dr, x); v128.store(dr, y, 16);
      let lo = f64x2.promote_low_f32x4(x), hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
      q0 = f64x2.add(q0, f64x2.mul(f64x2.mul(sc, lo), lo)); q1 = f64x2.add(q1, f64x2.mul(f64x2.mul(sc, hi), hi));
      lo = f64x2.promote_low_f32x4(y); hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(y, y, 2, 3, 2, 3));
      q2 = f64x2.add(q2, f64x2.mul(f64x2.mul(sc, lo), lo)); q3 = f64x2.add(q3, f64x2.mul(f64x2.mul(sc, hi), hi));
      sr += ss; dr += 32;
    }
    v128.store(pa, q2, 32); v128.store(pa, q3, 48);
  }
  v128.store(pa, q0); v128.store(pa, q1, 16);
}

/** packPanelSquares of two consecutive 4-column panels (columns c0..c0+7; the second panel T·16 bytes after the first): four independent f64 sums in flight instead of two. */
function packPanelPairSquares(src: usize, T: i32, n: i32, c0: i32, dst: usize, acc: usize, scale: f64): void {
  const ss = <usize>n << 2, sc = f64x2.splat(scale), d2 = <usize>T << 4;
  const pa = acc + (<usize>c0 << 3);
  let q0 = v128.load(pa), q1 = v128.load(pa, 16), q2 = v128.load(pa, 32), q3 = v128.load(pa, 48);
  let sr = src + (<usize>c0 << 2), dr = dst;
  for (let t = 0; t < T; t++) {
    const x = v128.load(sr), y = v128.load(sr, 16);
    v128.store(dr, x); v128.store(dr + d2, y);
    let lo = f64x2.promote_low_f32x4(x), hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
    q0 = f64x2.add(q0, f64x2.mul(f64x2.mul(sc, lo), lo)); q1 = f64x2.add(q1, f64x2.mul(f64x2.mul(sc, hi), hi));
    lo = f64x2.promote_low_f32x4(y); hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(y, y, 2, 3, 2, 3));
    q2 = f64x2.add(q2, f64x2.mul(f64x2.mul(sc, lo), lo)); q3 = f64x2.add(q3, f64x2.mul(f64x2.mul(sc, hi), hi));
    sr += ss; dr += 16;
  }
  v128.store(pa, q0); v128.store(pa, q1, 16); v128.store(pa, q2, 32); v128.store(pa, q3, 48);
}

/** acc[c] += (scale·v)·v over the T rows of src (T × n) for the columns [c0, c1), t in order (the columns outside the panels). */
function columnSquares(src: usize, T: i32, n: i32, c0: i32, c1: i32, acc: usize, scale: f64): void {
  const ss = <usize>n << 2;
  for (let c = c0; c < c1; c++) {
    const pa = acc + (<usize>c << 3);
    let q = load<f64>(pa), sr = src + (<usize>c << 2);
    for (let t = 0; t < T; t++) { const v = <f64>load<f32>(sr); q += scale * v * v; sr += ss; }
    store<f64>(pa, q);
  }
}

/**
 * G2 ≠ 0: also G2[o] += (gScale·g_to)·g_to over t (out_grad2); X2 ≠ 0: X2[j] += x_tj·x_tj (in_sum2),
 * in the packing pass, with add_squares' operations in its order (the same sums). x's panels go to
 * xp (T·cols f32); packX = 0: they are there already (q/k/v and gate/up share their input: packed
 * once), and X2 is then not summed. g's panels go to scratch (T·rows f32).
 */
export function fisher_marginals_fma(g: usize, x: usize, T: i32, rows: i32, cols: i32, R: usize, C: usize, scale: f64, scratch: usize, G2: usize, gScale: f64, X2: usize, xp: usize, packX: i32): void {
  const rows4 = rows & ~3, cols8 = cols & ~7;
  const gs = <usize>rows << 2, xs = <usize>cols << 2;
  const gp = scratch;
  const gPanel = <usize>T << 4, xPanel = <usize>T << 5; // bytes per panel
  let o0 = 0;
  if (G2) for (; o0 + 7 < rows4; o0 += 8) packPanelPairSquares(g, T, rows, o0, gp + <usize>(o0 >> 2) * gPanel, G2, gScale);
  for (; o0 < rows4; o0 += 4) {
    if (G2) packPanelSquares(g, T, rows, o0, 1, gp + <usize>(o0 >> 2) * gPanel, G2, gScale);
    else packPanel(g, T, rows, o0, 1, gp + <usize>(o0 >> 2) * gPanel);
  }
  if (packX) {
    for (let j0 = 0; j0 < cols8; j0 += 8) {
      if (X2) packPanelSquares(x, T, cols, j0, 2, xp + <usize>(j0 >> 3) * xPanel, X2, 1);
      else packPanel(x, T, cols, j0, 2, xp + <usize>(j0 >> 3) * xPanel);
    }
  }
  if (G2) columnSquares(g, T, rows, rows4, rows, G2, gScale);
  if (X2) columnSquares(x, T, cols, cols8, cols, X2, 1);
  const sc = f64x2.splat(scale);
  let ob = (16384 / (T << 4)) << 2; // rows per block
  if (ob < 4) ob = 4;
  for (let b0 = 0; b0 < rows4; b0 += ob) {
    const b1 = min(rows4, b0 + ob);
    for (let j0 = 0; j0 < cols8; j0 += 8) {
      const xb = xp + <usize>(j0 >> 3) * xPanel;
      for (let o0 = b0; o0 < b1; o0 += 4) fisherTile4(gp + <usize>(o0 >> 2) * gPanel, xb, T, o0, j0, R, C, sc);
    }
  }
  fisherEdges(g, gs, x, xs, T, rows, rows4, cols, cols8, R, C, scale); // the rows and columns outside the tiles
}

/**
 * dx (T × cols) = dy (T × rows) · W (rows × cols): the backward pass's ∂L/∂x of y = x·Wᵀ, from W as
 * stored (no transposed copy). Eight columns of W at a time are packed into a contiguous rows × 8
 * panel (scratch: rows·8 f32) that stays in L1/L2 while every group of four tokens passes over it;
 * register tiles of 4 tokens × 8 columns, fused multiply-adds over o in order. accumulate ≠ 0: dx +=
 * the product instead (the same f32 sums as adding it afterwards, without the pass over dx).
 */
export function matmul_back_fma(dy: usize, T: i32, rows: i32, W: usize, cols: i32, dx: usize, scratch: usize, accumulate: i32): void {
  const cols8 = cols & ~7;
  const ys = <usize>rows << 2, ws = <usize>cols << 2;
  const last = <usize>(T - 1);
  for (let j0 = 0; j0 < cols8; j0 += 8) {
    let src = W + (<usize>j0 << 2), dst = scratch;
    for (let o = 0; o < rows; o++) { v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16); src += ws; dst += 32; }
    for (let t0 = 0; t0 < T; t0 += 4) {
      const nt = min(4, T - t0);
      const ra = dy + <usize>t0 * ys, rb = dy + min(<usize>(t0 + 1), last) * ys;
      const rc = dy + min(<usize>(t0 + 2), last) * ys, rd = dy + min(<usize>(t0 + 3), last) * ys;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), e0 = f32x4.splat(0), e1 = f32x4.splat(0);
      let pw = scratch;
      for (let o = 0; o < rows; o++) {
        const off = <usize>o << 2;
        const w0 = v128.load(pw), w1 = v128.load(pw, 16);
        let g = v128.load32_splat(ra + off); a0 = madd(g, w0, a0); a1 = madd(g, w1, a1);
        g = v128.load32_splat(rb + off); b0 = madd(g, w0, b0); b1 = madd(g, w1, b1);
        g = v128.load32_splat(rc + off); c0 = madd(g, w0, c0); c1 = madd(g, w1, c1);
        g = v128.load32_splat(rd + off); e0 = madd(g, w0, e0); e1 = madd(g, w1, e1);
        pw += 32;
      }
      const out = dx + ((<usize>t0 * <usize>cols + <usize>j0) << 2);
      if (accumulate) {
        a0 = f32x4.add(v128.load(out), a0); a1 = f32x4.add(v128.load(out, 16), a1);
        if (nt > 1) { b0 = f32x4.add(v128.load(out + ws), b0); b1 = f32x4.add(v128.load(out + ws, 16), b1); }
        if (nt > 2) { c0 = f32x4.add(v128.load(out + 2 * ws), c0); c1 = f32x4.add(v128.load(out + 2 * ws, 16), c1); }
        if (nt > 3) { e0 = f32x4.add(v128.load(out + 3 * ws), e0); e1 = f32x4.add(v128.load(out + 3 * ws, 16), e1); }
      }
      v128.store(out, a0); v128.store(out, a1, 16);
      if (nt > 1) { v128.store(out + ws, b0); v128.store(out + ws, b1, 16); }
      if (nt > 2) { v128.store(out + 2 * ws, c0); v128.store(out + 2 * ws, c1, 16); }
      if (nt > 3) { v128.store(out + 3 * ws, e0); v128.store(out + 3 * ws, e1, 16); }
    }
  }
  // columns past the last full panel, one at a time
  for (let j = cols8; j < cols; j++) {
    for (let t = 0; t < T; t++) {
      let s: f32 = 0;
      for (let o = 0; o < rows; o++) s += load<f32>(dy + <usize>t * ys + (<usize>o << 2)) * load<f32>(W + <usize>o * ws + (<usize>j << 2));
      const p = dx + ((<usize>t * <usize>cols + <usize>j) << 2);
      store<f32>(p, accumulate ? load<f32>(p) + s : s);
    }
  }
}

/** Scales row x (n values) into out: out_j = f32((x_j · s) · g_j) in f64 (g = 0: no weight), as ops.rmsNorm's scaleRow. */
function scaleRow(x: usize, n: i32, s: f64, g: usize, out: usize): void {
  const sv = f64x2.splat(s);
  let j = 0;
  for (; j + 3 < n; j += 4) {
    const off = <usize>j << 2;
    const v = v128.load(x + off);
    let lo = f64x2.mul(f64x2.promote_low_f32x4(v), sv), hi = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), sv);
    if (g) {
      const w = v128.load(g + off);
      lo = f64x2.mul(lo, f64x2.promote_low_f32x4(w));
      hi = f64x2.mul(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(w, w, 2, 3, 2, 3)));
    }
    const a = f32x4.demote_f64x2_zero(lo), b = f32x4.demote_f64x2_zero(hi);
    v128.store(out + off, v128.shuffle<f32>(a, b, 0, 1, 4, 5));
  }
  for (; j < n; j++) {
    const off = <usize>j << 2;
    let v = <f64>load<f32>(x + off) * s;
    if (g) v *= <f64>load<f32>(g + off);
    store<f32>(out + off, <f32>v);
  }
}

/**
 * RMSNorm of `rows` rows of n values (weight g, 0: none) into out, bit for bit as ops.rmsNorm computes
 * it in JS: per row an f64 sum of squares in the row's order (four rows at a time), the scale
 * 1/√(sum/n + eps) in f64, each value (x·scale)·g in f64 rounded to f32.
 */
export function rms_norm(x: usize, g: usize, out: usize, rows: i32, n: i32, eps: f64): void {
  const rb = <usize>n << 2, nf = <f64>n;
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const x0 = x + <usize>r * rb, x1 = x0 + rb, x2 = x1 + rb, x3 = x2 + rb;
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
    for (let j = 0; j < n; j++) {
      const off = <usize>j << 2;
      const a = <f64>load<f32>(x0 + off), b = <f64>load<f32>(x1 + off), c = <f64>load<f32>(x2 + off), d = <f64>load<f32>(x3 + off);
      s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
    }
    const o = out + <usize>r * rb;
    scaleRow(x0, n, 1 / Math.sqrt(s0 / nf + eps), g, o);
    scaleRow(x1, n, 1 / Math.sqrt(s1 / nf + eps), g, o + rb);
    scaleRow(x2, n, 1 / Math.sqrt(s2 / nf + eps), g, o + 2 * rb);
    scaleRow(x3, n, 1 / Math.sqrt(s3 / nf + eps), g, o + 3 * rb);
  }
  for (; r < rows; r++) {
    const xr = x + <usize>r * rb;
    let s: f64 = 0;
    for (let j = 0; j < n; j++) { const a = <f64>load<f32>(xr + (<usize>j << 2)); s += a * a; }
    scaleRow(xr, n, 1 / Math.sqrt(s / nf + eps), g, out + <usize>r * rb);
  }
}

/** out = a + b elementwise (f32; n values). */
export function add_f32(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}

/** The forward RoPE rotation in place, as ops.rope computes it in JS: (x0·c − x1·s, x0·s + x1·c) in f64 (pairs and tables as rope_back). */
export function rope_fwd(x: usize, T: i32, nHead: i32, headDim: i32, ropeDim: i32, cos: usize, sin: usize, neox: i32): void {
  ropeRotate(x, T, nHead, headDim, ropeDim, cos, sin, neox, 1);
}

/**
 * (x0·c − x1·s', x0·s' + x1·c) with s' = sign·s: sign −1 gives rope_back's (x0·c + x1·s, −x0·s + x1·c)
 * with the same bits (negating a product or a subtrahend is exact).
 */
function ropeRotate(x: usize, T: i32, nHead: i32, headDim: i32, ropeDim: i32, cos: usize, sin: usize, neox: i32, sign: f64): void {
  const half = ropeDim >> 1;
  const step: usize = neox ? 4 : 8, other: usize = neox ? <usize>half << 2 : 4;
  for (let t = 0; t < T; t++) {
    const ct = cos + ((<usize>t * <usize>half) << 3), st = sin + ((<usize>t * <usize>half) << 3);
    for (let h = 0; h < nHead; h++) {
      const o = x + ((<usize>(t * nHead + h) * <usize>headDim) << 2);
      for (let i = 0; i < half; i++) {
        const c = load<f64>(ct + (<usize>i << 3)), s = sign * load<f64>(st + (<usize>i << 3));
        const p0 = o + <usize>i * step, p1 = p0 + other;
        const x0 = <f64>load<f32>(p0), x1 = <f64>load<f32>(p1);
        store<f32>(p0, <f32>(x0 * c - x1 * s));
        store<f32>(p1, <f32>(x0 * s + x1 * c));
      }
    }
  }
}
