// The sweep's error pass (src/analysis/sweep-fast.ts), per (tensor, type) and
// chunk of rows: E = W − Ŵ in f64 exactly as the TypeScript reference loop in
// src/analysis/sweep.ts computes it (same operations, same sequential order),
// so the records are bit-identical. Scalar f64 on purpose: SIMD lanes would
// reorder the sums.

/** Per row: w2[r] = Σ w², vw2[r] = Σ v_j·w·w (v = imatrix, or 0 = none). */
export function sweepRowSums(w: usize, rows: i32, cols: i32, im: usize, w2: usize, vw2: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = w + ((<usize>r * <usize>cols) << 2);
    let a: f64 = 0, b: f64 = 0;
    if (im) {
      for (let j = 0; j < cols; j++) {
        const x = <f64>load<f32>(row + (<usize>j << 2));
        a += x * x;
        b += <f64>load<f32>(im + (<usize>j << 2)) * x * x;
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const x = <f64>load<f32>(row + (<usize>j << 2));
        a += x * x;
      }
    }
    store<f64>(w2 + (<usize>r << 3), a);
    store<f64>(vw2 + (<usize>r << 3), b);
  }
}

/**
 * rows × cols of W (w) and its round trip (deq): per row e2[r] = Σ d², ve2[r] =
 * Σ v_j·d·d (d = w − deq in f64), |d| as f32 into abs, a histogram of the top 16
 * bits of those f32 (the bit pattern of a non-negative float orders like its
 * value) into hist (u32 × 65536). With w2 ≠ 0 also sweepRowSums' w2/vw2 (same
 * order, so the same bits) in the same pass. Returns max |d| (f64).
 */
export function sweepErrors(w: usize, deq: usize, abs: usize, rows: i32, cols: i32, im: usize, e2: usize, ve2: usize, hist: usize, w2: usize, vw2: usize): f64 {
  let mx: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const off = (<usize>r * <usize>cols) << 2;
    const pw = w + off, pd = deq + off, pa = abs + off;
    let a: f64 = 0, b: f64 = 0, sa: f64 = 0, sb: f64 = 0;
    if (im) {
      for (let j = 0; j < cols; j++) {
        const o = <usize>j << 2;
        const x = <f64>load<f32>(pw + o);
        const v = <f64>load<f32>(im + o);
        const d = x - <f64>load<f32>(pd + o);
        const ad = Math.abs(d);
        const f = <f32>ad;
        store<f32>(pa + o, f);
        const h = hist + (<usize>(reinterpret<u32>(f) >>> 16) << 2);
        store<u32>(h, load<u32>(h) + 1);
        if (ad > mx) mx = ad;
        a += d * d;
        b += v * d * d;
        sa += x * x;
        sb += v * x * x;
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const o = <usize>j << 2;
        const x = <f64>load<f32>(pw + o);
        const d = x - <f64>load<f32>(pd + o);
        const ad = Math.abs(d);
        const f = <f32>ad;
        store<f32>(pa + o, f);
        const h = hist + (<usize>(reinterpret<u32>(f) >>> 16) << 2);
        store<u32>(h, load<u32>(h) + 1);
        if (ad > mx) mx = ad;
        a += d * d;
        sa += x * x;
      }
    }
    store<f64>(e2 + (<usize>r << 3), a);
    store<f64>(ve2 + (<usize>r << 3), b);
    if (w2) {
      store<f64>(w2 + (<usize>r << 3), sa);
      store<f64>(vw2 + (<usize>r << 3), sb);
    }
  }
  return mx;
}

/**
 * Copies the values of abs (n f32) whose top 16 bits select a slot
 * (slot: i32 × 65536, −1 = not wanted) to dst at fill[slot]++ (i32 per slot,
 * element indices into dst).
 */
export function sweepGather(abs: usize, n: i32, slot: usize, fill: usize, dst: usize): void {
  for (let i = 0; i < n; i++) {
    const bits = load<u32>(abs + (<usize>i << 2));
    const s = load<i32>(slot + (<usize>(bits >>> 16) << 2));
    if (s >= 0) {
      const pf = fill + (<usize>s << 2);
      const k = load<i32>(pf);
      store<u32>(dst + (<usize>k << 2), bits);
      store<i32>(pf, k + 1);
    }
  }
}
