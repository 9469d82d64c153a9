// The reference forward pass itself: token embedding, pre-norm blocks
// (RMSNorm -> attention with RoPE, optional QK-norm, GQA -> residual;
// RMSNorm -> SwiGLU FFN -> residual), final RMSNorm and output head. Tokens
// come in independent chunks (KV cache cleared between them, like
// llama-imatrix / llama-perplexity), each chunk starting at position 0.
import { QuantscopeError } from "../../io/errors.js";
import type { ForwardModel } from "./model.js";
import { matmul, rmsNorm, rope, swiglu } from "./ops.js";
import { attentionWasm } from "./matmul-wasm.js";

/** Matmul inputs, named like the activation dumps (act_blkN_<kind>). */
export type CaptureKind = "attn_input" | "attn_output_input" | "ffn_input" | "ffn_down_input";

export interface RunOptions {
  /** Replacement float32 data for some tensors (e.g. a quantized-dequantized copy). */
  readonly overrides?: ReadonlyMap<string, Float32Array>;
  /** Called with each matmul input (T × cols). */
  readonly capture?: (layer: number, kind: CaptureKind, data: Float32Array, cols: number) => void;
  /** Store K and V in half precision like llama.cpp's default KV cache (default true). */
  readonly kvF16?: boolean;
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

/** Runs block `l` on the residual stream h (T × nEmbd) in place; chunks of `chunk` tokens attend only within themselves. */
export function runLayer(model: ForwardModel, h: Float32Array, T: number, chunk: number, l: number, opts: RunOptions = {}): void {
  const c = model.config;
  const p = `blk.${l}.`;
  const x = rmsNorm(h, c.nEmbd, weight(model, p + "attn_norm.weight", opts), c.eps);
  opts.capture?.(l, "attn_input", x, c.nEmbd);
  const qd = c.nHead * c.headDim, kd = c.nHeadKv * c.headDim;
  const q = matmul(x, T, c.nEmbd, weight(model, p + "attn_q.weight", opts), qd);
  const k = matmul(x, T, c.nEmbd, weight(model, p + "attn_k.weight", opts), kd);
  const v = matmul(x, T, c.nEmbd, weight(model, p + "attn_v.weight", opts), kd);
  if (c.qkNorm) {
    rmsNorm(q, c.headDim, weight(model, p + "attn_q_norm.weight", opts), c.eps, q);
    rmsNorm(k, c.headDim, weight(model, p + "attn_k_norm.weight", opts), c.eps, k);
  }
  const att = new Float32Array(T * qd);
  for (let s = 0; s < T; s += chunk) {
    const n = Math.min(chunk, T - s);
    const qs = q.slice(s * qd, (s + n) * qd), ks = k.slice(s * kd, (s + n) * kd), vs = v.slice(s * kd, (s + n) * kd);
    rope(qs, n, c.nHead, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    rope(ks, n, c.nHeadKv, c.headDim, c.ropeDim, c.ropeTheta, c.ropeMode);
    att.set(attentionWasm(qs, ks, vs, n, c.nHead, c.nHeadKv, c.headDim, opts.kvF16 ?? true), s * qd);
  }
  opts.capture?.(l, "attn_output_input", att, qd);
  const o = matmul(att, T, qd, weight(model, p + "attn_output.weight", opts), c.nEmbd);
  for (let i = 0; i < h.length; i++) h[i] += o[i]!;
  const f = rmsNorm(h, c.nEmbd, weight(model, p + "ffn_norm.weight", opts), c.eps);
  opts.capture?.(l, "ffn_input", f, c.nEmbd);
  const g = matmul(f, T, c.nEmbd, weight(model, p + "ffn_gate.weight", opts), c.nFf);
  const u = matmul(f, T, c.nEmbd, weight(model, p + "ffn_up.weight", opts), c.nFf);
  const a = swiglu(g, u);
  opts.capture?.(l, "ffn_down_input", a, c.nFf);
  const d = matmul(a, T, c.nFf, weight(model, p + "ffn_down.weight", opts), c.nEmbd);
  for (let i = 0; i < h.length; i++) h[i] += d[i]!;
}

/** Final norm and output head: logits (T × vocab). output.weight falls back to token_embd (tied embeddings). */
export function headLogits(model: ForwardModel, h: Float32Array, T: number, opts: RunOptions = {}): Float32Array {
  const c = model.config;
  const x = rmsNorm(h, c.nEmbd, weight(model, "output_norm.weight", opts), c.eps);
  const W = opts.overrides?.get("output.weight") ?? optionalWeight(model, "output.weight") ?? weight(model, "token_embd.weight", opts);
  return matmul(x, T, c.nEmbd, W, c.vocab);
}

/** Full forward pass: logits (T × vocab) for tokens processed in independent chunks. */
export function forward(model: ForwardModel, tokens: Int32Array, chunk: number, opts: RunOptions = {}): Float32Array {
  const h = embed(model, tokens, opts);
  for (let l = 0; l < model.config.nLayer; l++) runLayer(model, h, tokens.length, chunk, l, opts);
  return headLogits(model, h, tokens.length, opts);
}
