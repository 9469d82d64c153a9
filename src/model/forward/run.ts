// The reference forward pass itself: token embedding, pre-norm blocks
// (RMSNorm -> attention with RoPE, optional QK-norm, GQA -> residual;
// RMSNorm -> SwiGLU FFN -> residual), final RMSNorm and output head. Tokens
// come in independent chunks (KV cache cleared between them, like
// llama-imatrix / llama-perplexity), each chunk starting at position 0.
import { QuantscopeError } from "../../io/errors.js";
import type { ForwardModel } from "./model.js";
import { matmul, rmsNorm, rope, swiglu } from "./ops.js";
import { attentionWasm, ffnWasm, forgetRoundedInput } from "./matmul-wasm.js";

/** Matmul inputs, named like the activation dumps (act_blkN_<kind>). */
export type CaptureKind = "attn_input" | "attn_output_input" | "ffn_input" | "ffn_down_input";

/**
 * Expert routing of an MoE layer, given with the captures that feed expert
 * matrices: `ids` holds k expert indices per token (slot order). For
 * "ffn_input" the data has one row per token (every selected expert reads it);
 * for "ffn_down_input" it has one row per (token, slot), row t·k + s.
 */
export interface Routing {
  readonly ids: Int32Array;
  readonly k: number;
  readonly nExpert: number;
}

export interface RunOptions {
  /** Replacement float32 data for some tensors (e.g. a quantized-dequantized copy). */
  readonly overrides?: ReadonlyMap<string, Float32Array>;
  /** Called with each matmul input (T × cols). */
  readonly capture?: (layer: number, kind: CaptureKind, data: Float32Array, cols: number, routing?: Routing) => void;
  /** Store K and V in half precision like llama.cpp's default KV cache (default true). */
  readonly kvF16?: boolean;
  /**
   * Only positions ≥ keepFrom of each chunk need the last layer's output (eval scores the second
   * half of each chunk): there Q, attention, o-proj and FFN run on those rows only (K and V on all),
   * and the other rows of h are left as they were. forward() and StreamedModel.hidden() apply it to
   * the last layer; not with capture (the imatrix needs every row).
   */
  readonly keepFrom?: number;
}

function weight(model: ForwardModel, name: string, opts: RunOptions): Float32Array {
  const w = opts.overrides?.get(name) ?? model.weights.get(name);
  if (!w) throw new QuantscopeError(`forward pass: tensor ${name} is missing`);
  return w;
}

function optionalWeight(model: ForwardModel, name: string): Float32Array | null {
  return model.weights.get(name) ?? null;
}

/** Residual stream at the input of layer 0: token embedding rows (T × nEmbd). */
export function embed(model: ForwardModel, tokens: Int32Array, opts: RunOptions = {}): Float32Array {
  const { nEmbd, vocab } = model.config;
  const E = weight(model, "token_embd.weight", opts);
  const h = new Float32Array(tokens.length * nEmbd);
  for (let t = 0; t < tokens.length; t++) {
    const id = tokens[t]!;
    if (id < 0 || id >= vocab) throw new QuantscopeError(`forward pass: token id ${id} outside the vocabulary (0..${vocab - 1})`);
    h.set(E.subarray(id * nEmbd, (id + 1) * nEmbd), t * nEmbd);
  }
  return h;
}

// The dense layer's intermediate arrays, reused from layer to layer: a fresh array of this size costs
// a page fault per 4 KiB each time (~3 ms per MiB on this project's VMs, more than the arithmetic of
// the norms and SwiGLU). Captures see the inputs only during the callback; the activation-rounding
// cache (matmul-wasm.ts) keys on the input array, so it is cleared at each layer's start.
const scratch = new Map<string, Float32Array>();
function out(key: string, n: number): Float32Array {
  let b = scratch.get(key);
  if (!b || b.length < n) { b = new Float32Array(n); scratch.set(key, b); }
  return b.length === n ? b : b.subarray(0, n); // kept at its largest size: the last layer uses fewer rows (keepFrom)
}

/** Rows [from, chunk) of each chunk of x (T rows of `cols`), packed one after the other into dst. */
function gatherRows(x: Float32Array, cols: number, T: number, chunk: number, from: number, dst: Float32Array): Float32Array {
  const keep = chunk - from;
  for (let s = 0, r = 0; s < T; s += chunk, r += keep) dst.set(x.subarray((s + from) * cols, (s + chunk) * cols), r * cols);
  return dst;
}

/** The inverse of gatherRows: packed rows back to rows [from, chunk) of each chunk of x. */
function scatterRows(packed: Float32Array, cols: number, T: number, chunk: number, from: number, x: Float32Array): void {
  const keep = chunk - from;
  for (let s = 0, r = 0; s < T; s += chunk, r += keep) x.set(packed.subarray(r * cols, (r + keep) * cols), (s + from) * cols);
}

/** Runs block `l` on the residual stream h (T × nEmbd) in place; chunks of `chunk` tokens attend only within themselves. */
export function runLayer(model: ForwardModel, h: Float32Array, T: number, chunk: number, l: number, opts: RunOptions = {}): void {
  const c = model.config;
  const p = `blk.${l}.`;
  forgetRoundedInput();
  const from = opts.keepFrom ?? 0;
  if (from > 0 && (opts.capture || from >= chunk || T % chunk !== 0)) throw new Error("internal error: keepFrom needs whole chunks and no capture");
  const keep = chunk - from; // query rows per chunk
  const Tq = from > 0 ? (T / chunk) * keep : T;
  const x = rmsNorm(h, c.nEmbd, weight(model, p + "attn_norm.weight", opts), c.eps, out("x", h.length));
  opts.capture?.(l, "attn_input", x, c.nEmbd);
  const qd = c.nHead * c.headDim, kd = c.nHeadKv * c.headDim;
  const xq = from > 0 ? gatherRows(x, c.nEmbd, T, chunk, from, out("xq", Tq * c.nEmbd)) : x;
  const q = matmul(xq, Tq, c.nEmbd, weight(model, p + "attn_q.weight", opts), qd, out("q", Tq * qd));
  const k = matmul(x, T, c.nEmbd, weight(model, p + "attn_k.weight", opts), kd, out("k", T * kd), xq === x);
  const v = matmul(x, T, c.nEmbd, weight(model, p + "attn_v.weight", opts), kd, out("v", T * kd), true);
  if (c.qkNorm) {
    rmsNorm(q, c.headDim, weight(model, p + "attn_q_norm.weight", opts), c.eps, q);
    rmsNorm(k, c.headDim, weight(model, p + "attn_k_norm.weight", opts), c.eps, k);
  }
  const att = out("att", Tq * qd); // every row is written below
  for (let s = 0, r = 0; s < T; s += chunk) {
    const n = Math.min(chunk, T - s), q0 = Math.min(from, n), nq = n - q0; // query rows [r, r + nq) are positions [q0, n)
    const qs = q.subarray(r * qd, (r + nq) * qd), ks = k.subarray(s * kd, (s + n) * kd), vs = v.subarray(s * kd, (s + n) * kd);
    rope(qs, nq, c.nHead, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode, q0);
    rope(ks, n, c.nHeadKv, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    attentionWasm(qs, ks, vs, n, c.nHead, c.nHeadKv, c.headDim, opts.kvF16 ?? true, att.subarray(r * qd, (r + nq) * qd), q0);
    r += nq;
  }
  opts.capture?.(l, "attn_output_input", att, qd);
  const o = matmul(att, Tq, qd, weight(model, p + "attn_output.weight", opts), c.nEmbd, out("o", Tq * c.nEmbd));
  const hs = from > 0 ? gatherRows(h, c.nEmbd, T, chunk, from, out("hs", Tq * c.nEmbd)) : h; // the rows that go on
  for (let i = 0; i < hs.length; i++) hs[i] += o[i]!;
  const f = rmsNorm(hs, c.nEmbd, weight(model, p + "ffn_norm.weight", opts), c.eps, out("f", hs.length));
  if (c.nExpert > 0) moeFfn(model, hs, f, Tq, l, opts);
  else {
    opts.capture?.(l, "ffn_input", f, c.nEmbd);
    const Wg = weight(model, p + "ffn_gate.weight", opts), Wu = weight(model, p + "ffn_up.weight", opts), Wd = weight(model, p + "ffn_down.weight", opts);
    const cap = opts.capture ? (a: Float32Array) => opts.capture!(l, "ffn_down_input", a, c.nFf) : undefined;
    // in the kernels' memory throughout where it can, else step by step (the same values either way)
    let d = ffnWasm(f, Tq, c.nEmbd, Wg, Wu, c.nFf, Wd, out("d", Tq * c.nEmbd), cap);
    if (!d) {
      const g = matmul(f, Tq, c.nEmbd, Wg, c.nFf, out("g", Tq * c.nFf));
      const u = matmul(f, Tq, c.nEmbd, Wu, c.nFf, out("u", Tq * c.nFf), true);
      const a = swiglu(g, u, out("a", Tq * c.nFf));
      cap?.(a);
      d = matmul(a, Tq, c.nFf, Wd, c.nEmbd, out("d", Tq * c.nEmbd));
    }
    for (let i = 0; i < hs.length; i++) hs[i] += d[i]!;
  }
  if (from > 0) scatterRows(hs, c.nEmbd, T, chunk, from, h);
}

/**
 * Top-k experts of each token from router logits (T × nExpert), as
 * llama.cpp's build_moe_ffn does for qwen3moe: softmax over all experts, the k
 * largest probabilities (slot order = descending), renormalised to sum 1
 * (the sum clamped below at 2^-14).
 */
export function routeTokens(logits: Float32Array, T: number, nExpert: number, k: number): { ids: Int32Array; weights: Float32Array } {
  const ids = new Int32Array(T * k), weights = new Float32Array(T * k);
  const p = new Float32Array(nExpert);
  const order = Array.from({ length: nExpert }, (_, i) => i);
  for (let t = 0; t < T; t++) {
    const o = t * nExpert;
    let max = -Infinity;
    for (let e = 0; e < nExpert; e++) max = Math.max(max, logits[o + e]!);
    let sum = 0;
    for (let e = 0; e < nExpert; e++) { p[e] = Math.exp(logits[o + e]! - max); sum += p[e]!; }
    for (let e = 0; e < nExpert; e++) p[e] = p[e]! / sum;
    order.sort((a, b) => p[b]! - p[a]! || a - b);
    let ws = 0;
    for (let s = 0; s < k; s++) { ids[t * k + s] = order[s]!; weights[t * k + s] = p[order[s]!]!; ws = Math.fround(ws + p[order[s]!]!); }
    ws = Math.max(ws, 6.103515625e-5);
    for (let s = 0; s < k; s++) weights[t * k + s] = Math.fround(weights[t * k + s]! / ws);
  }
  return { ids, weights };
}

/** Sparse MoE FFN (qwen3moe): router, top-k SwiGLU experts from the 3-D *_exps tensors, weighted sum added to h. */
function moeFfn(model: ForwardModel, h: Float32Array, f: Float32Array, T: number, l: number, opts: RunOptions): void {
  const c = model.config;
  const p = `blk.${l}.`;
  const E = c.nEmbd, F = c.nFfExp, nE = c.nExpert, k = c.nExpertUsed;
  const router = matmul(f, T, E, weight(model, p + "ffn_gate_inp.weight", opts), nE);
  const { ids, weights } = routeTokens(router, T, nE, k);
  const routing: Routing = { ids, k, nExpert: nE };
  opts.capture?.(l, "ffn_input", f, E, routing);
  const gate = weight(model, p + "ffn_gate_exps.weight", opts);
  const up = weight(model, p + "ffn_up_exps.weight", opts);
  const down = weight(model, p + "ffn_down_exps.weight", opts);
  const act = opts.capture ? new Float32Array(T * k * F) : undefined;
  const outs = new Float32Array(T * k * E); // expert output of (token, slot), weighted
  for (let e = 0; e < nE; e++) {
    const rows: number[] = [];
    for (let r = 0; r < T * k; r++) if (ids[r] === e) rows.push(r);
    if (rows.length === 0) continue;
    const n = rows.length;
    const x = new Float32Array(n * E);
    rows.forEach((r, i) => x.set(f.subarray(Math.floor(r / k) * E, (Math.floor(r / k) + 1) * E), i * E));
    const g = matmul(x, n, E, gate.subarray(e * F * E, (e + 1) * F * E), F);
    const u = matmul(x, n, E, up.subarray(e * F * E, (e + 1) * F * E), F);
    const a = swiglu(g, u);
    if (act) rows.forEach((r, i) => act.set(a.subarray(i * F, (i + 1) * F), r * F));
    const d = matmul(a, n, F, down.subarray(e * E * F, (e + 1) * E * F), E);
    rows.forEach((r, i) => {
      const w = weights[r]!;
      for (let j = 0; j < E; j++) outs[r * E + j] = Math.fround(d[i * E + j]! * w);
    });
  }
  if (act) opts.capture!(l, "ffn_down_input", act, F, routing);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < E; j++) {
      let s = outs[(t * k) * E + j]!;
      for (let q = 1; q < k; q++) s = Math.fround(s + outs[(t * k + q) * E + j]!);
      h[t * E + j] += s;
    }
  }
}

/** Final norm and output head: logits (T × vocab). output.weight falls back to token_embd (tied embeddings). */
export function headLogits(model: ForwardModel, h: Float32Array, T: number, opts: RunOptions = {}): Float32Array {
  const c = model.config;
  const x = rmsNorm(h, c.nEmbd, weight(model, "output_norm.weight", opts), c.eps);
  const W = opts.overrides?.get("output.weight") ?? optionalWeight(model, "output.weight") ?? weight(model, "token_embd.weight", opts);
  return matmul(x, T, c.nEmbd, W, c.vocab);
}

/** opts for layer l of n: keepFrom applies to the last layer only. */
export function layerOptions(opts: RunOptions, l: number, n: number): RunOptions {
  return opts.keepFrom && l !== n - 1 ? { ...opts, keepFrom: undefined } : opts;
}

/** The final residual stream (T × nEmbd) of tokens processed in independent chunks (with keepFrom, only those rows of each chunk are final). */
export function forwardHidden(model: ForwardModel, tokens: Int32Array, chunk: number, opts: RunOptions = {}): Float32Array {
  const h = embed(model, tokens, opts);
  const n = model.config.nLayer;
  for (let l = 0; l < n; l++) runLayer(model, h, tokens.length, chunk, l, layerOptions(opts, l, n));
  return h;
}

/** Full forward pass: logits (T × vocab) for tokens processed in independent chunks. */
export function forward(model: ForwardModel, tokens: Int32Array, chunk: number, opts: RunOptions = {}): Float32Array {
  if (opts.keepFrom) throw new Error("internal error: forward() computes every row's logits; use forwardHidden with keepFrom");
  return headLogits(model, forwardHidden(model, tokens, chunk, opts), tokens.length, opts);
}
