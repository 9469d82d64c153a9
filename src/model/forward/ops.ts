// Numeric building blocks of the reference forward pass: plain loops over
// Float32Array, row-major, one token per row. Accumulation is in float64
// where it is cheap (norms, softmax); matmuls run in WASM SIMD with f32 lanes.
import { matmulWasm, swigluWasm } from "./matmul-wasm.js";

/** y[t, o] = Σ_j x[t, j] · W[o, j]  (x: T×n, W: m×n row-major, y: T×m), in WASM; sameInput: x is the previous matmul's input, unchanged (its copy is reused). */
export function matmul(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y?: Float32Array, sameInput = false): Float32Array {
  return matmulWasm(x, T, n, W, m, y, sameInput);
}

/** The same product in plain JS with float64 accumulators: the reference the WASM kernel is tested against. */
export function matmulReference(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array = new Float32Array(T * m)): Float32Array {
  // Four tokens per pass share each weight load; float64 accumulators.
  let t = 0;
  for (; t + 3 < T; t += 4) {
    const x0 = t * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
    for (let o = 0; o < m; o++) {
      const wo = o * n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = 0; j < n; j++) {
        const w = W[wo + j]!;
        s0 += x[x0 + j]! * w;
        s1 += x[x1 + j]! * w;
        s2 += x[x2 + j]! * w;
        s3 += x[x3 + j]! * w;
      }
      y[t * m + o] = s0;
      y[(t + 1) * m + o] = s1;
      y[(t + 2) * m + o] = s2;
      y[(t + 3) * m + o] = s3;
    }
  }
  for (; t < T; t++) {
    const xo = t * n;
    for (let o = 0; o < m; o++) {
      const wo = o * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += x[xo + j]! * W[wo + j]!;
      y[t * m + o] = s;
    }
  }
  return y;
}

/** RMSNorm of each length-`n` group of x (in place into out), times weight g (length n). */
export function rmsNorm(x: Float32Array, n: number, g: Float32Array | null, eps: number, out: Float32Array = new Float32Array(x.length)): Float32Array {
  let o = 0;
  // four rows at a time: four independent float64 sums (each in its row's order, so the same
  // values), whose adds overlap instead of waiting on one another
  for (; o + 4 * n <= x.length; o += 4 * n) {
    const o1 = o + n, o2 = o1 + n, o3 = o2 + n;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let j = 0; j < n; j++) {
      const a = x[o + j]!, b = x[o1 + j]!, c = x[o2 + j]!, d = x[o3 + j]!;
      s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
    }
    scaleRow(x, o, n, 1 / Math.sqrt(s0 / n + eps), g, out);
    scaleRow(x, o1, n, 1 / Math.sqrt(s1 / n + eps), g, out);
    scaleRow(x, o2, n, 1 / Math.sqrt(s2 / n + eps), g, out);
    scaleRow(x, o3, n, 1 / Math.sqrt(s3 / n + eps), g, out);
  }
  for (; o < x.length; o += n) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[o + j]! * x[o + j]!;
    scaleRow(x, o, n, 1 / Math.sqrt(ss / n + eps), g, out);
  }
  return out;
}

function scaleRow(x: Float32Array, o: number, n: number, scale: number, g: Float32Array | null, out: Float32Array): void {
  if (g) for (let j = 0; j < n; j++) out[o + j] = x[o + j]! * scale * g[j]!;
  else for (let j = 0; j < n; j++) out[o + j] = x[o + j]! * scale;
}

/**
 * Rotary position embedding in place on x (T rows of nHead·headDim), first
 * `ropeDim` dims of each head. "normal" rotates adjacent pairs (2i, 2i+1)
 * (llama); "neox" rotates (i, i + ropeDim/2) (Qwen, GPT-NeoX).
 */
export function rope(x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, theta: number, mode: "normal" | "neox", pos0 = 0): void {
  const half = ropeDim / 2;
  const { cos, sin } = ropeTable(T, ropeDim, theta, pos0);
  for (let t = 0; t < T; t++) {
    const r = t * half;
    for (let h = 0; h < nHead; h++) {
      const o = (t * nHead + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[r + i]!, s = sin[r + i]!;
        const i0 = mode === "normal" ? o + 2 * i : o + i;
        const i1 = mode === "normal" ? o + 2 * i + 1 : o + i + half;
        const x0 = x[i0]!, x1 = x[i1]!;
        x[i0] = x0 * c - x1 * s;
        x[i1] = x0 * s + x1 * c;
      }
    }
  }
}

// cos and sin of every (position, frequency) pair, shared by all heads and layers (the same
// float64 values as computing them in place)
let ropeCache: { T: number; ropeDim: number; theta: number; pos0: number; cos: Float64Array; sin: Float64Array } | undefined;
function ropeTable(T: number, ropeDim: number, theta: number, pos0: number): { cos: Float64Array; sin: Float64Array } {
  const c = ropeCache;
  if (c && c.T >= T && c.ropeDim === ropeDim && c.theta === theta && c.pos0 === pos0) return c;
  const half = ropeDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(theta, (-2 * i) / ropeDim);
  const cos = new Float64Array(T * half), sin = new Float64Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = (pos0 + t) * inv[i]!;
      cos[t * half + i] = Math.cos(a);
      sin[t * half + i] = Math.sin(a);
    }
  }
  ropeCache = { T, ropeDim, theta, pos0, cos, sin };
  return ropeCache;
}

/** Softmax probabilities of query t of head h (KV head kh) over keys 0..t, into p (float64). */
export function attentionProbs(q: Float32Array, k: Float32Array, t: number, h: number, kh: number, nHead: number, nKv: number, d: number, scale: number, p: Float64Array): void {
  const qo = (t * nHead + h) * d;
  let max = -Infinity;
  for (let s = 0; s <= t; s++) {
    const ko = (s * nKv + kh) * d;
    let dot = 0;
    for (let j = 0; j < d; j++) dot += q[qo + j]! * k[ko + j]!;
    dot *= scale;
    p[s] = dot;
    if (dot > max) max = dot;
  }
  let sum = 0;
  for (let s = 0; s <= t; s++) { const e = Math.exp(p[s]! - max); p[s] = e; sum += e; }
  for (let s = 0; s <= t; s++) p[s] = p[s]! / sum;
}

/**
 * Causal multi-head attention with grouped KV heads over one sequence of T
 * tokens, in plain JS with float64 probabilities: the reference the WASM
 * kernel (matmul-wasm.ts attentionWasm) is tested against. q: T×(nHead·d),
 * k, v: T×(nKv·d). Returns T×(nHead·d) merged heads.
 */
export function causalAttention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, nHead: number, nKv: number, d: number): Float32Array {
  const out = new Float32Array(T * nHead * d);
  const group = nHead / nKv;
  const scale = 1 / Math.sqrt(d);
  const p = new Float64Array(T);
  for (let h = 0; h < nHead; h++) {
    const kh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      attentionProbs(q, k, t, h, kh, nHead, nKv, d, scale, p);
      const oo = (t * nHead + h) * d;
      for (let s = 0; s <= t; s++) {
        const vo = (s * nKv + kh) * d;
        for (let j = 0; j < d; j++) out[oo + j] += p[s]! * v[vo + j]!;
      }
    }
  }
  return out;
}

/** silu(gate) · up, elementwise: in WASM SIMD (f32, polynomial e^x) where available, else swigluReference. */
export function swiglu(gate: Float32Array, up: Float32Array, out?: Float32Array): Float32Array {
  const y = swigluWasm(gate, up, out) ?? swigluReference(gate, up);
  if (out && y !== out) { out.set(y); return out; }
  return y;
}

/** silu(gate) · up in plain JS (float64 e^x): the reference the WASM kernel is tested against. */
export function swigluReference(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
  return out;
}

/** Row-wise log-softmax of a T×V matrix (float64 result). */
export function logSoftmax(logits: Float32Array, T: number, V: number): Float64Array {
  const out = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const o = t * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i]! - max);
    const lse = max + Math.log(sum);
    for (let i = 0; i < V; i++) out[o + i] = logits[o + i]! - lse;
  }
  return out;
}

/** Mean over rows of KL(p || q) for row-wise log-probabilities (T×V). */
export function meanKl(logP: Float64Array, logQ: Float64Array, T: number, V: number): number {
  let total = 0;
  for (let t = 0; t < T; t++) {
    const o = t * V;
    let kl = 0;
    for (let i = 0; i < V; i++) {
      const lp = logP[o + i]!;
      kl += Math.exp(lp) * (lp - logQ[o + i]!);
    }
    total += kl;
  }
  return total / T;
}

