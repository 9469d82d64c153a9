// Forward + backward pass of the reference model over one sequence, for the
// calibration statistics (docs/sensitivity.md). The forward pass is the same
// computation as src/model/forward/run.ts (pre-norm blocks, RoPE,
// optional QK-norm, GQA, SwiGLU; the same kernels, so the same bits), but keeps
// what the backward pass needs; the attention backward recomputes the
// probabilities (kernels.ts). The backward pass propagates a cotangent of the logits
// (T × vocab) down to the embedding and reports, for every weight matrix,
// its input x (T × cols) and the gradient g = ∂L/∂y of its output (T × rows).
// The F16 rounding of K and V (llama.cpp's KV cache) is applied in the
// forward pass and treated as the identity in the backward pass. MoE layers
// (qwen3moe): the routing (each token's top-k experts) is held fixed; the
// gradient reaches every selected expert's gate/up/down and, through the
// renormalised softmax weights, the router ffn_gate_inp.
import { QuantscopeError } from "../../io/errors.js";
import type { ForwardModel } from "../forward/model.js";
import { attentionProbs, matmul, rmsNorm, rope } from "../forward/ops.js";
import { routeTokens } from "../forward/run.js";
import { attentionWasm } from "../forward/matmul-wasm.js";
import { Arena, kernels } from "../../quant/wasm.js";
import { activationTypeOf } from "../forward/act-numerics.js";
import { addWasm, arenaArray, arenaIntact, attentionFwdWasm, beginChunk, calibKernels, matmulBackWasm, matmulFwdWasm, rmsNormBackWasm, rmsNormWasm, ropeBackWasm, ropeFwdWasm, roundF16CalibWasm, Scratch, setFisherWidth, swigluBackWasm, swigluKeepWasm } from "./kernels.js";

/**
 * Called for each weight matrix with its input rows x (n × cols) and output
 * gradients g (n × rows); n = T, except for an expert matrix (`expert` = its
 * index in the 3-D tensor, `rows` = rows per expert), called once per expert
 * that has tokens with the n (token, slot) rows routed to it. x and g may be
 * scratch buffers reused by the next call: copy them to keep them.
 */
export type MatmulHook = (name: string, x: Float32Array, cols: number, g: Float32Array, rows: number, expert?: ExpertCall) => void;

export interface ExpertCall {
  readonly index: number;
  readonly count: number;
}

export interface BackwardResult {
  /** Gradient of the loss with respect to the residual stream at the input of layer 0 (T × nEmbd): the embedding rows' gradient. */
  readonly dEmbed: Float32Array;
}

interface LayerCache {
  hIn: Float32Array; x: Float32Array;
  q0: Float32Array; k0: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array;
  att: Float32Array; h1: Float32Array; f: Float32Array; gt: Float32Array; up: Float32Array; a: Float32Array;
  /** sigmoid(gt), kept from the forward pass for the SwiGLU backward. */
  sg: Float32Array;
  /** The attention's softmax probabilities (nHead × Tp × Tp), when the forward pass kept them. */
  P?: Float32Array;
  /** MoE layers: routing and the expert outputs (unweighted) per (token, slot) row t·k + s; gt/up/a are then per row too. */
  moe?: { ids: Int32Array; weights: Float32Array; d: Float32Array };
}

export interface ForwardCache {
  readonly T: number;
  readonly layers: LayerCache[];
  /** Residual stream after the last block. */
  readonly hOut: Float32Array;
  /** Final-norm output (the head's input). */
  readonly xf: Float32Array;
  readonly logits: Float32Array;
}

function w(model: ForwardModel, name: string): Float32Array {
  const t = model.weights.get(name);
  if (!t) throw new QuantscopeError(`calibrate: tensor ${name} is missing`);
  return t;
}

/** Name of the output head (token_embd when the embeddings are tied). */
export function headName(model: ForwardModel): string {
  return model.weights.has("output.weight") ? "output.weight" : "token_embd.weight";
}

const transposes = new WeakMap<Float32Array, Float32Array>();

/** Wᵀ (cols × rows) of a rows × cols matrix, cached per array. */
function transposed(W: Float32Array, rows: number, cols: number): Float32Array {
  let t = transposes.get(W);
  if (!t) {
    t = new Float32Array(rows * cols);
    for (let o = 0; o < rows; o++) for (let j = 0; j < cols; j++) t[j * rows + o] = W[o * cols + j]!;
    transposes.set(W, t);
  }
  return t;
}

const slices = new WeakMap<Float32Array, Float32Array[]>();

/** Expert e's rows × cols matrix of a 3-D expert tensor (the same view object each time, so its transpose is cached). */
function expertMatrix(W: Float32Array, e: number, rows: number, cols: number): Float32Array {
  let s = slices.get(W);
  if (!s) slices.set(W, (s = []));
  return (s[e] ??= W.subarray(e * rows * cols, (e + 1) * rows * cols));
}

/** (token, slot) rows routed to each expert, in row order. */
function expertRows(ids: Int32Array, nExpert: number): Int32Array[] {
  const n = new Int32Array(nExpert);
  for (const e of ids) n[e]++;
  const out = Array.from(n, (c) => new Int32Array(c));
  n.fill(0);
  for (let r = 0; r < ids.length; r++) { const e = ids[r]!; out[e]![n[e]!++] = r; }
  return out;
}

/**
 * A scratch array of n floats for one use site of the passes, reused from call to call (its contents
 * are dead by the next use): fresh arrays of these sizes cost page faults and garbage collections on
 * every chunk. In the kernels' arena where it fits (kernels.ts), so the kernels read and write it in
 * place; `cap` reserves room for later uses of up to cap floats (sites whose size varies).
 */
function scratch(site: string, n: number, cap = n): Float32Array {
  return arenaArray(site, n, cap);
}

/** Bytes of all layers' kept attention probabilities (nHead × Tp × Tp f32 per layer, Tp = T rounded up to 4). */
function probsBytes(c: ForwardModel["config"], T: number): number {
  const Tp = (T + 3) & ~3;
  return 4 * c.nLayer * c.nHead * Tp * Tp;
}

/**
 * Whether the forward pass keeps the attention probabilities for the backward pass (which then skips
 * the query-key products and softmax it would otherwise redo): with the relaxed-SIMD attention
 * backward (head size a multiple of 8) and while they take at most 256 MiB (T = 512, 32 heads, 8 layers).
 */
function keepsProbs(c: ForwardModel["config"], T: number): boolean {
  return c.headDim % 8 === 0 && calibKernels() !== null && probsBytes(c, T) <= 256 * 2 ** 20;
}

/** Bytes of the arena one chunk of T tokens uses (a slight overestimate; beginChunk). */
function arenaEstimate(c: ForwardModel["config"], T: number): number {
  const E = c.nEmbd, qd = c.nHead * c.headDim, kd = c.nHeadKv * c.headDim;
  const F = c.nExpert > 0 ? c.nExpertUsed * c.nFfExp : c.nFf;
  const perLayer = 4 * E + 3 * qd + 3 * kd + 4 * F + (c.nExpert > 0 ? c.nExpertUsed * E + c.nExpert : 0);
  const shared = 12 * E + 6 * qd + 5 * kd + 8 * Math.max(F, c.nFf) + 2 * c.vocab + Math.max(E, qd, c.nFf, c.nFfExp);
  return 4 * T * (c.nLayer * perLayer + shared) + (keepsProbs(c, T) ? probsBytes(c, T) : 0) + 64 * 1024;
}

/** Bytes of per-call kernel scratch past the arena that a chunk of T tokens may need (every operand copied, the largest weight matrix, attention's P and dS). */
function scratchEstimate(model: ForwardModel, T: number): number {
  const c = model.config;
  let maxW = 0; // the largest matrix a kernel takes: a 2-D weight, or one expert of a 3-D *_exps tensor
  for (const [name, w] of model.weights) maxW = Math.max(maxW, c.nExpert > 0 && name.includes("_exps.") ? w.length / c.nExpert : w.length);
  const act = Math.max(c.nEmbd, c.nHead * c.headDim, c.nFf, c.nFfExp, c.nExpert);
  const Tp = (T + 3) & ~3;
  return 4 * (maxW + 2 * T * c.vocab + 10 * T * act + 2 * Tp * Tp + 4 * T + 16 * Math.max(act, c.vocab)) + 64 * 1024;
}

let lastRounded: Float32Array | undefined; // the input whose F16 rounding the arena site "xin" holds

/**
 * y = x·Wᵀ as the forward pass computes it (ops.matmul: the same kernel and activation rounding), on
 * calibrate's instance where it can, reading and writing arena arrays in place; sameInput: x is the
 * previous call's input, unchanged (its rounded copy is reused).
 */
function mm(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array = new Float32Array(T * m), sameInput = false): Float32Array {
  const act = activationTypeOf(W), f16 = act === "F16";
  if (act === "F32" || f16) {
    const reuse = sameInput && f16 && lastRounded === x;
    lastRounded = undefined;
    if (matmulFwdWasm(x, T, n, W, m, y, f16, f16 ? scratch("xin", T * n, T * maxInput) : undefined, reuse)) {
      if (f16) lastRounded = x;
      return y;
    }
  }
  lastRounded = undefined;
  return matmul(x, T, n, W, m, y, sameInput);
}
let maxInput = 0; // the widest matmul input of the model being run (set by forwardCached)

/** dX (T × cols) = dY (T × rows) · W (rows × cols), into the scratch array of `site` when given; `into`: added to that array instead (dX += …). */
function matmulBack(dy: Float32Array, T: number, W: Float32Array, rows: number, cols: number, site?: string, into?: Float32Array): Float32Array {
  if (into) {
    if (matmulBackWasm(dy, T, W, rows, cols, into, true)) return into;
    return addTo(into, into, matmulBack(dy, T, W, rows, cols, site));
  }
  const out = site ? scratch(site, T * cols) : new Float32Array(T * cols);
  if (matmulBackWasm(dy, T, W, rows, cols, out)) return out; // from W as stored: no transposed copy
  // plain-SIMD fallback: the forward matmul on a cached transposed copy
  return matmul(dy, T, rows, transposed(W, rows, cols), cols, out);
}

/** A pass whose arena views were detached by a memory grow (scratch past its reserve: a wrong estimate) has read nothing valid from them: fail, not return it. */
function checkArena(): void {
  if (!arenaIntact()) throw new Error("internal error: calibrate's kernel memory grew during a pass (per-call scratch past its reserve)");
}

/** ops.rmsNorm into out: the WASM kernel (the same bits) where it runs, in place on the arena. */
function rmsNormFwd(x: Float32Array, n: number, g: Float32Array | null, eps: number, out: Float32Array): Float32Array {
  return rmsNormWasm(x, n, g, eps, out) ? out : rmsNorm(x, n, g, eps, out);
}

/**
 * Backward of rmsNorm over groups of n with weight g: returns dx for the input x and output gradient
 * dy, plus res when given (a residual branch's gradient), into `out` when given.
 */
export function rmsNormBack(x: Float32Array, n: number, g: Float32Array | null, eps: number, dy: Float32Array, out?: Float32Array, res?: Float32Array): Float32Array {
  const dx = out ?? new Float32Array(x.length);
  if (rmsNormBackWasm(x, n, g, eps, dy, dx, res)) return dx;
  for (let o = 0; o < x.length; o += n) {
    let ss = 0, dot = 0;
    for (let j = 0; j < n; j++) {
      const xi = x[o + j]!;
      ss += xi * xi;
      dot += xi * dy[o + j]! * (g ? g[j]! : 1);
    }
    const s = 1 / Math.sqrt(ss / n + eps);
    const c = (s * s * s * dot) / n;
    for (let j = 0; j < n; j++) dx[o + j] = s * dy[o + j]! * (g ? g[j]! : 1) - x[o + j]! * c + (res ? res[o + j]! : 0);
  }
  return dx;
}

/** out[i] = a[i] + b[i] (f32): the elementwise sums of the residual stream and of gradient branches, in WASM where it runs, else in a small function of its own so it runs optimized from the start rather than inside the big pass functions. */
function addTo(out: Float32Array, a: Float32Array, b: Float32Array): Float32Array {
  if (addWasm(out, a, b)) return out;
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

let ropeTable: { key: string; cos: Float64Array; sin: Float64Array } | undefined;

/** cos and sin of position t · θ^(−2i/ropeDim) (T × ropeDim/2), the same values as ops.rope's table (the same operations), kept for the next call. */
function ropeAngles(T: number, ropeDim: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const key = `${T} ${ropeDim} ${theta}`;
  if (ropeTable?.key === key) return ropeTable;
  const half = ropeDim / 2;
  const cos = new Float64Array(T * half), sin = new Float64Array(T * half);
  for (let i = 0; i < half; i++) {
    const inv = Math.pow(theta, (-2 * i) / ropeDim);
    for (let t = 0; t < T; t++) { const a = t * inv; cos[t * half + i] = Math.cos(a); sin[t * half + i] = Math.sin(a); }
  }
  ropeTable = { key, cos, sin };
  return ropeTable;
}

/** ops.rope (positions 0..T−1) in place: the WASM kernel on the same angles (ropeAngles are ops.rope's table values), else ops.rope. */
function ropeFwd(x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, theta: number, mode: "normal" | "neox"): void {
  const { cos, sin } = ropeAngles(T, ropeDim, theta);
  if (!ropeFwdWasm(x, T, nHead, headDim, ropeDim, cos, sin, mode === "neox")) rope(x, T, nHead, headDim, ropeDim, theta, mode);
}

/** Inverse rotation of ops.rope (its transpose), in place: the backward pass of RoPE. */
export function ropeBack(x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, theta: number, mode: "normal" | "neox"): void {
  const half = ropeDim / 2;
  const { cos, sin } = ropeAngles(T, ropeDim, theta);
  if (ropeBackWasm(x, T, nHead, headDim, ropeDim, cos, sin, mode === "neox")) return;
  const step = mode === "normal" ? 2 : 1, other = mode === "normal" ? 1 : half;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHead; h++) {
      const o = (t * nHead + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[t * half + i]!, s = sin[t * half + i]!;
        const i0 = o + step * i, i1 = i0 + other;
        const x0 = x[i0]!, x1 = x[i1]!;
        x[i0] = x0 * c + x1 * s;
        x[i1] = -x0 * s + x1 * c;
      }
    }
  }
}

/** Rounds to the nearest IEEE half in place (the WASM kernel round_to_f16). */
function roundF16Wasm(x: Float32Array): void {
  if (roundF16CalibWasm(x)) return; // in place where x lives in the arena
  const f = kernels()["round_to_f16"] as (p: number, n: number) => void;
  const arena = new Arena();
  const p = arena.alloc(x.length * 4);
  arena.f32(p, x.length).set(x);
  f(p, x.length);
  x.set(arena.f32(p, x.length));
}

type AttentionBackKernel = (q: number, k: number, v: number, dout: number, dq: number, dk: number, dv: number, T: number, nHead: number, nKv: number, d: number, scale: number, p: number, dp: number) => void;
let attentionBackKernel: AttentionBackKernel | undefined;

/**
 * attentionBack() in WASM SIMD, f32: the relaxed-SIMD kernel (assembly/calib_relaxed.ts, blocked
 * products) where available and d % 8 == 0, else assembly/calib_backward.ts's. Into `out` when given;
 * `kept`: the probabilities the forward pass kept (attentionFwdWasm), read instead of recomputed (the
 * same values).
 */
export function attentionBackWasm(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, T: number, nHead: number, nKv: number, d: number, out?: AttentionGrads, kept?: Float32Array): AttentionGrads {
  const qn = T * nHead * d, kn = T * nKv * d;
  const res = out ?? { dq: new Float32Array(qn), dk: new Float32Array(kn), dv: new Float32Array(kn) };
  const fk = d % 8 === 0 ? calibKernels() : null;
  if (fk) {
    const s = new Scratch(fk), Tp = (T + 3) & ~3;
    const pq = s.in(q, qn), pk = s.in(k, kn), pv = s.in(v, kn), po = s.in(dout, qn);
    const pdq = s.outAt(res.dq, qn), pdk = s.outAt(res.dk, kn), pdv = s.outAt(res.dv, kn);
    const useKept = kept !== undefined && kept.buffer === fk.memory.buffer && kept.length >= nHead * Tp * Tp;
    const pP = useKept ? 0 : s.alloc(Tp * Tp), pS = s.alloc(Tp * Tp);
    s.f32(pdk, kn).fill(0); s.f32(pdv, kn).fill(0);
    fk.attentionBack(pq, pk, pv, po, pdq, pdk, pdv, T, nHead, nKv, d, 1 / Math.sqrt(d), pP, pS, useKept ? kept.byteOffset : 0);
    s.out(res.dq, pdq, qn); s.out(res.dk, pdk, kn); s.out(res.dv, pdv, kn);
    return res;
  }
  attentionBackKernel ??= kernels()["attention_back_f32"] as AttentionBackKernel;
  const arena = new Arena();
  const pq = arena.alloc(qn * 4), pk = arena.alloc(kn * 4), pv = arena.alloc(kn * 4), po = arena.alloc(qn * 4);
  const pdq = arena.alloc(qn * 4), pdk = arena.alloc(kn * 4), pdv = arena.alloc(kn * 4), pp = arena.alloc(T * 4), pdp = arena.alloc(T * 4);
  arena.f32(pq, qn).set(q); arena.f32(pk, kn).set(k); arena.f32(pv, kn).set(v); arena.f32(po, qn).set(dout);
  arena.f32(pdq, qn).fill(0); arena.f32(pdk, kn).fill(0); arena.f32(pdv, kn).fill(0);
  attentionBackKernel(pq, pk, pv, po, pdq, pdk, pdv, T, nHead, nKv, d, 1 / Math.sqrt(d), pp, pdp);
  res.dq.set(arena.f32(pdq, qn)); res.dk.set(arena.f32(pdk, kn)); res.dv.set(arena.f32(pdv, kn));
  return res;
}

export interface AttentionGrads { dq: Float32Array; dk: Float32Array; dv: Float32Array }

/** Backward of attention(): gradients of q, k, v from the output gradient dout (plain JS, float64: the reference of attentionBackWasm). */
export function attentionBack(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, T: number, nHead: number, nKv: number, d: number): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const dq = new Float32Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const group = nHead / nKv, scale = 1 / Math.sqrt(d);
  const p = new Float64Array(T), dp = new Float64Array(T);
  for (let h = 0; h < nHead; h++) {
    const kh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      attentionProbs(q, k, t, h, kh, nHead, nKv, d, scale, p);
      const oo = (t * nHead + h) * d;
      let dot = 0;
      for (let s = 0; s <= t; s++) {
        const vo = (s * nKv + kh) * d;
        let a = 0;
        for (let j = 0; j < d; j++) { a += dout[oo + j]! * v[vo + j]!; dv[vo + j] += p[s]! * dout[oo + j]!; }
        dp[s] = a;
        dot += p[s]! * a;
      }
      for (let s = 0; s <= t; s++) {
        const ds = p[s]! * (dp[s]! - dot) * scale;
        if (ds === 0) continue;
        const ko = (s * nKv + kh) * d;
        for (let j = 0; j < d; j++) { dq[oo + j] += ds * k[ko + j]!; dk[ko + j] += ds * q[oo + j]!; }
      }
    }
  }
  return { dq, dk: Float32Array.from(dk), dv: Float32Array.from(dv) };
}

/** silu(gate)·up as ops.swiglu computes it, and sigmoid(gate) for the backward pass: the WASM kernel (the forward's bits), else one JS exp per element. */
function swigluKeep(gate: Float32Array, up: Float32Array, a: Float32Array = new Float32Array(gate.length), sg: Float32Array = new Float32Array(gate.length)): { a: Float32Array; sg: Float32Array } {
  if (swigluKeepWasm(gate, up, a, sg)) return { a, sg };
  for (let i = 0; i < gate.length; i++) {
    const z = gate[i]!, e = 1 + Math.exp(-z);
    a[i] = (z / e) * up[i]!;
    sg[i] = 1 / e;
  }
  return { a, sg };
}

export interface ForwardCacheOptions {
  /** Round K and V to F16 like llama.cpp's KV cache (default true). */
  readonly kvF16?: boolean;
}

/**
 * Forward pass over one sequence (positions 0..T−1), keeping what the backward pass needs. Part of
 * the cache lives in scratch arrays that the next call reuses: finish with one cache before making the next.
 */
export function forwardCached(model: ForwardModel, tokens: Int32Array, opts: ForwardCacheOptions = {}): ForwardCache {
  const c = model.config;
  const T = tokens.length, E = c.nEmbd;
  const emb = w(model, "token_embd.weight");
  beginChunk(arenaEstimate(c, T), scratchEstimate(model, T)); // the previous chunk's arrays are dead from here
  maxInput = Math.max(E, c.nHead * c.headDim, c.nFf, c.nFfExp);
  setFisherWidth(maxInput);
  lastRounded = undefined;
  // every T-sized array of the cache lives in a per-layer scratch array, reused by the next chunk: a
  // fresh multi-MB array costs page faults and garbage collections on every chunk
  const buf = (l: number | string, name: string, n: number) => scratch(`${l}.${name}`, n);
  let h = buf("emb", "h", T * E);
  for (let t = 0; t < T; t++) {
    const id = tokens[t]!;
    if (id < 0 || id >= c.vocab) throw new QuantscopeError(`calibrate: token id ${id} outside the vocabulary (0..${c.vocab - 1})`);
    h.set(emb.subarray(id * E, (id + 1) * E), t * E);
  }
  const qd = c.nHead * c.headDim, kd = c.nHeadKv * c.headDim;
  const Tp = (T + 3) & ~3, keepProbs = keepsProbs(c, T);
  const layers: LayerCache[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `blk.${l}.`;
    const hIn = h;
    const x = rmsNormFwd(hIn, E, w(model, p + "attn_norm.weight"), c.eps, buf(l, "x", T * E));
    const q0 = mm(x, T, E, w(model, p + "attn_q.weight"), qd, buf(l, "q0", T * qd));
    const k0 = mm(x, T, E, w(model, p + "attn_k.weight"), kd, buf(l, "k0", T * kd), true); // x copied and rounded once for q/k/v
    const v = mm(x, T, E, w(model, p + "attn_v.weight"), kd, buf(l, "v", T * kd), true);
    const q = buf(l, "q", T * qd), k = buf(l, "k", T * kd);
    if (c.qkNorm) {
      rmsNormFwd(q0, c.headDim, w(model, p + "attn_q_norm.weight"), c.eps, q);
      rmsNormFwd(k0, c.headDim, w(model, p + "attn_k_norm.weight"), c.eps, k);
    } else { q.set(q0); k.set(k0); }
    ropeFwd(q, T, c.nHead, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    ropeFwd(k, T, c.nHeadKv, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    if (opts.kvF16 ?? true) { roundF16Wasm(k); roundF16Wasm(v); }
    const att = buf(l, "att", T * qd); // k, v already rounded; in place on the arena where it can
    // the softmax probabilities too, for the backward pass, where they fit in the arena
    let P: Float32Array | undefined = keepProbs ? buf(l, "P", c.nHead * Tp * Tp) : undefined;
    if (!attentionFwdWasm(q, k, v, T, c.nHead, c.nHeadKv, c.headDim, att, P)) {
      P = undefined;
      if (!attentionFwdWasm(q, k, v, T, c.nHead, c.nHeadKv, c.headDim, att)) attentionWasm(q, k, v, T, c.nHead, c.nHeadKv, c.headDim, false, att);
    }
    const o = mm(att, T, qd, w(model, p + "attn_output.weight"), E, scratch("o", T * E));
    const h1 = addTo(buf(l, "h1", T * E), hIn, o);
    const f = rmsNormFwd(h1, E, w(model, p + "ffn_norm.weight"), c.eps, buf(l, "f", T * E));
    const h2 = buf(l, "h2", T * E);
    if (c.nExpert > 0) {
      const m = moeForward(model, p, f, T);
      h2.set(h1);
      const ku = c.nExpertUsed;
      // as run.ts: weighted expert outputs rounded to f32, summed in slot order
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < E; j++) {
          let s = Math.fround(m.d[(t * ku) * E + j]! * m.weights[t * ku]!);
          for (let q = 1; q < ku; q++) s = Math.fround(s + Math.fround(m.d[(t * ku + q) * E + j]! * m.weights[t * ku + q]!));
          h2[t * E + j] += s;
        }
      }
      layers.push({ hIn, x, q0, k0, q, k, v, att, h1, f, gt: m.gt, up: m.up, a: m.a, sg: m.sg, P, moe: { ids: m.ids, weights: m.weights, d: m.d } });
      h = h2;
      continue;
    }
    // the FFN's T × nFf activations (most of the cache)
    const nf = T * c.nFf;
    const gt = mm(f, T, E, w(model, p + "ffn_gate.weight"), c.nFf, buf(l, "gt", nf));
    const up = mm(f, T, E, w(model, p + "ffn_up.weight"), c.nFf, buf(l, "up", nf), true); // f as for the gate
    const { a, sg } = swigluKeep(gt, up, buf(l, "a", nf), buf(l, "sg", nf));
    const dn = mm(a, T, c.nFf, w(model, p + "ffn_down.weight"), E, scratch("dn", T * E));
    addTo(h2, h1, dn);
    layers.push({ hIn, x, q0, k0, q, k, v, att, h1, f, gt, up, a, sg, P });
    h = h2;
  }
  const xf = rmsNormFwd(h, E, w(model, "output_norm.weight"), c.eps, scratch("xf", T * E));
  const logits = mm(xf, T, E, w(model, headName(model)), c.vocab, scratch("logits", T * c.vocab));
  checkArena();
  return { T, layers, hOut: h, xf, logits };
}

/** The MoE FFN's forward pass (as run.ts's moeFfn), keeping per (token, slot) row the gate, up, SwiGLU and unweighted expert output. */
function moeForward(model: ForwardModel, p: string, f: Float32Array, T: number) {
  const c = model.config;
  const E = c.nEmbd, F = c.nFfExp, nE = c.nExpert, k = c.nExpertUsed;
  const { ids, weights } = routeTokens(mm(f, T, E, w(model, p + "ffn_gate_inp.weight"), nE), T, nE, k);
  const gate = w(model, p + "ffn_gate_exps.weight"), up = w(model, p + "ffn_up_exps.weight"), down = w(model, p + "ffn_down_exps.weight");
  // per layer (kept for the backward pass) and per expert (transient) scratch arrays, reused by the next chunk
  const gtAll = scratch(p + "gtAll", T * k * F), upAll = scratch(p + "upAll", T * k * F), aAll = scratch(p + "aAll", T * k * F);
  const sgAll = scratch(p + "sgAll", T * k * F), d = scratch(p + "dAll", T * k * E);
  expertRows(ids, nE).forEach((rows, e) => {
    const n = rows.length;
    if (n === 0) return;
    const x = scratch("m.x", n * E);
    for (let i = 0; i < n; i++) { const t = Math.floor(rows[i]! / k); x.set(f.subarray(t * E, (t + 1) * E), i * E); }
    const g = mm(x, n, E, expertMatrix(gate, e, F, E), F, scratch("m.g", n * F));
    const u = mm(x, n, E, expertMatrix(up, e, F, E), F, scratch("m.u", n * F), true);
    const { a, sg } = swigluKeep(g, u, scratch("m.a", n * F), scratch("m.sg", n * F));
    const de = mm(a, n, F, expertMatrix(down, e, E, F), E, scratch("m.de", n * E));
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      gtAll.set(g.subarray(i * F, (i + 1) * F), r * F);
      upAll.set(u.subarray(i * F, (i + 1) * F), r * F);
      aAll.set(a.subarray(i * F, (i + 1) * F), r * F);
      sgAll.set(sg.subarray(i * F, (i + 1) * F), r * F);
      d.set(de.subarray(i * E, (i + 1) * E), r * E);
    }
  });
  return { ids, weights, gt: gtAll, up: upAll, a: aAll, sg: sgAll, d };
}

/** SwiGLU backward: gradients of gate and up from the gradient of silu(gate)·up (sigmoid(gate) from the forward pass). */
function swigluBack(da: Float32Array, gt: Float32Array, up: Float32Array, sgs: Float32Array): { dgt: Float32Array; dup: Float32Array } {
  const dgt = scratch("dgt", da.length), dup = scratch("dup", da.length);
  if (swigluBackWasm(da, gt, up, sgs, dgt, dup)) return { dgt, dup };
  for (let i = 0; i < da.length; i++) {
    const z = gt[i]!, sg = sgs[i]!;
    dup[i] = da[i]! * z * sg;
    dgt[i] = da[i]! * up[i]! * sg * (1 + z * (1 - sg));
  }
  return { dgt, dup };
}

/**
 * Backward of the MoE FFN from dh (T × E, the gradient of its output): every
 * expert's matrices (hook per expert), the router through the renormalised
 * softmax weights (w_s = softmax of the selected logits, so ∂w_s/∂l_e' =
 * w_s(δ − w_e') over the selected; the others get no gradient), and the
 * gradient at the FFN's input f.
 */
function moeBackward(model: ForwardModel, p: string, L: LayerCache, T: number, dh: Float32Array, hook: MatmulHook): Float32Array {
  const c = model.config;
  const E = c.nEmbd, F = c.nFfExp, nE = c.nExpert, k = c.nExpertUsed;
  const { ids, weights, d } = L.moe!;
  const gate = w(model, p + "ffn_gate_exps.weight"), up = w(model, p + "ffn_up_exps.weight"), down = w(model, p + "ffn_down_exps.weight");
  const df = scratch("m.df", T * E).fill(0);
  const dw = new Float64Array(T * k); // ∂L/∂(routing weight) per (token, slot)
  expertRows(ids, nE).forEach((rows, e) => {
    const n = rows.length;
    if (n === 0) return;
    const dd = scratch("e.dd", n * E), a = scratch("e.a", n * F), x = scratch("e.x", n * E);
    const gt = scratch("e.gt", n * F), u = scratch("e.up", n * F), sg = scratch("e.sg", n * F);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!, t = Math.floor(r / k), wr = weights[r]!;
      let s = 0;
      for (let j = 0; j < E; j++) { const g = dh[t * E + j]!; dd[i * E + j] = wr * g; s += d[r * E + j]! * g; }
      dw[r] = s;
      a.set(L.a.subarray(r * F, (r + 1) * F), i * F);
      gt.set(L.gt.subarray(r * F, (r + 1) * F), i * F);
      u.set(L.up.subarray(r * F, (r + 1) * F), i * F);
      sg.set(L.sg.subarray(r * F, (r + 1) * F), i * F);
      x.set(L.f.subarray(t * E, (t + 1) * E), i * E);
    }
    const ex = { index: e, count: nE };
    hook(p + "ffn_down_exps.weight", a, F, dd, E, ex);
    const { dgt, dup } = swigluBack(matmulBack(dd, n, expertMatrix(down, e, E, F), E, F, "da"), gt, u, sg);
    hook(p + "ffn_gate_exps.weight", x, E, dgt, F, ex);
    hook(p + "ffn_up_exps.weight", x, E, dup, F, ex);
    const dx = matmulBack(dgt, n, expertMatrix(gate, e, F, E), F, E, "df");
    const dxu = matmulBack(dup, n, expertMatrix(up, e, F, E), F, E, "dfu");
    for (let i = 0; i < n; i++) {
      const t = Math.floor(rows[i]! / k);
      for (let j = 0; j < E; j++) df[t * E + j] += dx[i * E + j]! + dxu[i * E + j]!;
    }
  });
  const dl = new Float32Array(T * nE);
  for (let t = 0; t < T; t++) {
    let m = 0;
    for (let s = 0; s < k; s++) m += weights[t * k + s]! * dw[t * k + s]!;
    for (let s = 0; s < k; s++) dl[t * nE + ids[t * k + s]!] = weights[t * k + s]! * (dw[t * k + s]! - m);
  }
  hook(p + "ffn_gate_inp.weight", L.f, E, dl, nE);
  const dfr = matmulBack(dl, T, w(model, p + "ffn_gate_inp.weight"), nE, E, "m.dfr");
  return addTo(df, df, dfr);
}

/**
 * Backward pass from dLogits (T × vocab, ∂L/∂logits): calls `hook` for every
 * weight matrix (head first, then the blocks from the last down) and returns
 * the gradient at the embedding.
 */
export function backward(model: ForwardModel, cache: ForwardCache, dLogits: Float32Array, hook: MatmulHook): BackwardResult {
  const c = model.config;
  const { T } = cache;
  const E = c.nEmbd, F = c.nFf, qd = c.nHead * c.headDim, kd = c.nHeadKv * c.headDim;
  const head = headName(model);
  hook(head, cache.xf, E, dLogits, c.vocab);
  const dxf = matmulBack(dLogits, T, w(model, head), c.vocab, E, "dxf");
  // dh: the gradient at the residual stream, in one scratch array (dead once dh1 has taken it in)
  let dh = rmsNormBack(cache.hOut, E, w(model, "output_norm.weight"), c.eps, dxf, scratch("dh", T * E));
  for (let l = c.nLayer - 1; l >= 0; l--) {
    const L = cache.layers[l]!;
    const p = `blk.${l}.`;
    // FFN
    let df: Float32Array;
    if (L.moe) df = moeBackward(model, p, L, T, dh, hook);
    else {
      hook(p + "ffn_down.weight", L.a, F, dh, E);
      const { dgt, dup } = swigluBack(matmulBack(dh, T, w(model, p + "ffn_down.weight"), E, F, "da"), L.gt, L.up, L.sg);
      hook(p + "ffn_gate.weight", L.f, E, dgt, F);
      hook(p + "ffn_up.weight", L.f, E, dup, F);
      df = matmulBack(dgt, T, w(model, p + "ffn_gate.weight"), F, E, "df");
      matmulBack(dup, T, w(model, p + "ffn_up.weight"), F, E, "dfu", df); // df += (the same sums as adding it afterwards)
    }
    const dh1 = rmsNormBack(L.h1, E, w(model, p + "ffn_norm.weight"), c.eps, df, scratch("dh1", T * E), dh);
    // attention
    hook(p + "attn_output.weight", L.att, qd, dh1, E);
    const datt = matmulBack(dh1, T, w(model, p + "attn_output.weight"), E, qd, "datt");
    const { dq, dk, dv } = attentionBackWasm(L.q, L.k, L.v, datt, T, c.nHead, c.nHeadKv, c.headDim, { dq: scratch("dq", T * qd), dk: scratch("dk", T * kd), dv: scratch("dv", T * kd) }, L.P);
    ropeBack(dq, T, c.nHead, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    ropeBack(dk, T, c.nHeadKv, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    const dq0 = c.qkNorm ? rmsNormBack(L.q0, c.headDim, w(model, p + "attn_q_norm.weight"), c.eps, dq, scratch("dq0", T * qd)) : dq;
    const dk0 = c.qkNorm ? rmsNormBack(L.k0, c.headDim, w(model, p + "attn_k_norm.weight"), c.eps, dk, scratch("dk0", T * kd)) : dk;
    hook(p + "attn_q.weight", L.x, E, dq0, qd);
    hook(p + "attn_k.weight", L.x, E, dk0, kd);
    hook(p + "attn_v.weight", L.x, E, dv, kd);
    const dx = matmulBack(dq0, T, w(model, p + "attn_q.weight"), qd, E, "dx");
    matmulBack(dk0, T, w(model, p + "attn_k.weight"), kd, E, "dxk", dx); // dx + dxk, then + dxv
    matmulBack(dv, T, w(model, p + "attn_v.weight"), kd, E, "dxv", dx);
    dh = rmsNormBack(L.hIn, E, w(model, p + "attn_norm.weight"), c.eps, dx, scratch("dh", T * E), dh1);
  }
  checkArena();
  return { dEmbed: dh.slice() };
}
