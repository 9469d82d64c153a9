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

// Fisher marginals of one weight gradient without materialising it: with
// g (T × rows) the output gradients and x (T × cols) the inputs (token-major,
// as the backward pass has them), dW_oj = Σ_t g_to x_tj, and this adds
// scale·Σ_j dW_oj² to R[o] and scale·Σ_o dW_oj² to C[j] (f64). dW is computed
// in register tiles of 4 rows × 8 columns (f32, t in order) from packed,
// contiguous panels of g and x (scratch: T·(rows + 8) f32), squared in f64.

// @ts-ignore: decorator
@inline function addTile(a: v128, o: i32, j: i32, R: usize, C: usize, scale: f64): void {
  for (let l = 0; l < 4; l++) {
    let v: f64 = 0;
    if (l == 0) v = <f64>f32x4.extract_lane(a, 0);
    else if (l == 1) v = <f64>f32x4.extract_lane(a, 1);
    else if (l == 2) v = <f64>f32x4.extract_lane(a, 2);
    else v = <f64>f32x4.extract_lane(a, 3);
    const q = v * v * scale;
    const pr = R + (<usize>o << 3), pc = C + (<usize>(j + l) << 3);
    store<f64>(pr, load<f64>(pr) + q);
    store<f64>(pc, load<f64>(pc) + q);
  }
}

/** Packs columns [c0, c0 + w) of src (T × n) into a contiguous T × w panel at dst. */
// @ts-ignore: decorator
@inline function pack(src: usize, T: i32, n: i32, c0: i32, w: i32, dst: usize): void {
  const ss = <usize>n << 2, wb = <usize>w << 2;
  let sr = src + (<usize>c0 << 2), dr = dst;
  for (let t = 0; t < T; t++) {
    memory.copy(dr, sr, wb);
    sr += ss; dr += wb;
  }
}

export function fisher_marginals_f32(g: usize, x: usize, T: i32, rows: i32, cols: i32, R: usize, C: usize, scale: f64, scratch: usize): void {
  const rows4 = rows & ~3, cols8 = cols & ~7;
  const gs = <usize>rows << 2, xs = <usize>cols << 2;
  // packed panels: every 4-row group of g as T × 4 (all of them), one 8-column group of x as T × 8 at a time
  const gp = scratch, xp = scratch + ((<usize>T * <usize>rows4) << 2);
  for (let o0 = 0; o0 < rows4; o0 += 4) pack(g, T, rows, o0, 4, gp + ((<usize>T * <usize>o0) << 2));
  for (let j0 = 0; j0 < cols8; j0 += 8) {
    pack(x, T, cols, j0, 8, xp);
    for (let o0 = 0; o0 < rows4; o0 += 4) {
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let xr = xp, gr = gp + ((<usize>T * <usize>o0) << 2);
      for (let t = 0; t < T; t++) {
        const x0 = v128.load(xr), x1 = v128.load(xr, 16);
        const g0 = v128.load32_splat(gr), g1 = v128.load32_splat(gr, 4);
        const g2 = v128.load32_splat(gr, 8), g3 = v128.load32_splat(gr, 12);
        a00 = f32x4.add(a00, f32x4.mul(g0, x0)); a01 = f32x4.add(a01, f32x4.mul(g0, x1));
        a10 = f32x4.add(a10, f32x4.mul(g1, x0)); a11 = f32x4.add(a11, f32x4.mul(g1, x1));
        a20 = f32x4.add(a20, f32x4.mul(g2, x0)); a21 = f32x4.add(a21, f32x4.mul(g2, x1));
        a30 = f32x4.add(a30, f32x4.mul(g3, x0)); a31 = f32x4.add(a31, f32x4.mul(g3, x1));
        xr += 32; gr += 16;
      }
      addTile(a00, o0, j0, R, C, scale); addTile(a01, o0, j0 + 4, R, C, scale);
      addTile(a10, o0 + 1, j0, R, C, scale); addTile(a11, o0 + 1, j0 + 4, R, C, scale);
      addTile(a20, o0 + 2, j0, R, C, scale); addTile(a21, o0 + 2, j0 + 4, R, C, scale);
      addTile(a30, o0 + 3, j0, R, C, scale); addTile(a31, o0 + 3, j0 + 4, R, C, scale);
    }
  }
  fisherEdges(g, gs, x, xs, T, rows, rows4, cols, cols8, R, C, scale); // the rows and columns outside the tiles
}

/**
 * The Fisher marginals of the entries outside the 4 × 8 tiles (rows ≥ rows4 with every column, and
 * columns ≥ cols8 of the tiled rows), one entry at a time: Σ_t g_to x_tj in f32, squared in f64.
 * Shared by the plain-SIMD kernel above and the relaxed-SIMD one (assembly/calib_relaxed.ts).
 */
export function fisherEdges(g: usize, gs: usize, x: usize, xs: usize, T: i32, rows: i32, rows4: i32, cols: i32, cols8: i32, R: usize, C: usize, scale: f64): void {
  for (let o = 0; o < rows; o++) {
    for (let j = o < rows4 ? cols8 : 0; j < cols; j++) {
      let s: f32 = 0;
      for (let t = 0; t < T; t++) s += load<f32>(g + <usize>t * gs + (<usize>o << 2)) * load<f32>(x + <usize>t * xs + (<usize>j << 2));
      const q = <f64>s * <f64>s * scale;
      store<f64>(R + (<usize>o << 3), load<f64>(R + (<usize>o << 3)) + q);
      store<f64>(C + (<usize>j << 3), load<f64>(C + (<usize>j << 3)) + q);
    }
  }
}
