// Backward pass of causal attention for quantscope calibrate
// (src/model/calibrate/backward.ts): recomputes each query's softmax row,
// then dv_s += p_s·do_t, ds_s = p_s(do_t·v_s − Σ p·(do_t·v)), dq_t += scale·ds_s·k_s,
// dk_s += scale·ds_s·q_t. Layout as attention_f32 (q T×(nHead·d), k, v
// T×(nKv·d)); dq, dk, dv must be zeroed by the caller. p and dp: T f32 of scratch.

// @ts-ignore: decorator
@inline function hsum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, d: i32): f32 {
  const d4 = d & ~3;
  let acc = f32x4.splat(0);
  for (let j = 0; j < d4; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>j << 2)), v128.load(b + (<usize>j << 2))));
  let s = hsum4(acc);
  for (let j = d4; j < d; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

// @ts-ignore: decorator
@inline function axpy(y: usize, a: f32, x: usize, d: i32): void {
  const d4 = d & ~3;
  const av = f32x4.splat(a);
  for (let j = 0; j < d4; j += 4) {
    const o = <usize>j << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  }
  for (let j = d4; j < d; j++) {
    const o = <usize>j << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

export function attention_back_f32(q: usize, k: usize, v: usize, dout: usize, dq: usize, dk: usize, dv: usize,
  T: i32, nHead: i32, nKv: i32, d: i32, scale: f32, p: usize, dp: usize): void {
  const group = nHead / nKv;
  const qStride = <usize>(nHead * d) << 2, kStride = <usize>(nKv * d) << 2;
  for (let h = 0; h < nHead; h++) {
    const kh = h / group;
    const qh = <usize>(h * d) << 2, khOff = <usize>(kh * d) << 2;
    for (let t = 0; t < T; t++) {
      const qr = q + <usize>t * qStride + qh, dor = dout + <usize>t * qStride + qh, dqr = dq + <usize>t * qStride + qh;
      let max: f32 = -Infinity;
      for (let s = 0; s <= t; s++) {
        const x = dot(qr, k + <usize>s * kStride + khOff, d) * scale;
        store<f32>(p + (<usize>s << 2), x);
        if (x > max) max = x;
      }
      let sum: f32 = 0;
      for (let s = 0; s <= t; s++) {
        const e = Mathf.exp(load<f32>(p + (<usize>s << 2)) - max);
        store<f32>(p + (<usize>s << 2), e);
        sum += e;
      }
      const inv: f32 = 1 / sum;
      let tot: f32 = 0;
      for (let s = 0; s <= t; s++) {
        const ps = load<f32>(p + (<usize>s << 2)) * inv;
        store<f32>(p + (<usize>s << 2), ps);
        const vr = v + <usize>s * kStride + khOff;
        const a = dot(dor, vr, d);
        store<f32>(dp + (<usize>s << 2), a);
        tot += ps * a;
        axpy(dv + <usize>s * kStride + khOff, ps, dor, d);
      }
      for (let s = 0; s <= t; s++) {
        const ps = load<f32>(p + (<usize>s << 2));
        const ds: f32 = ps * (load<f32>(dp + (<usize>s << 2)) - tot) * scale;
        if (ds == 0) continue;
        const kr = k + <usize>s * kStride + khOff;
        axpy(dqr, ds, kr, d);
        axpy(dk + <usize>s * kStride + khOff, ds, qr, d);
      }
    }
  }
}
