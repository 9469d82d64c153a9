// The reference forward pass's view of a model: hyper-parameters from GGUF
// metadata and every tensor as float32. Only dense llama-family decoders
// (llama, qwen2/qwen3 style) are supported; others get a clear error.
import { QuantscopeError } from "../../io/errors.js";
import type { TensorSource } from "../../io/source.js";
import { registerWeightType } from "./act-numerics.js";

export interface ForwardConfig {
  readonly arch: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly ropeDim: number;
  readonly ropeTheta: number;
  readonly ropeMode: "normal" | "neox";
  readonly eps: number;
  readonly vocab: number;
  /** Qwen3's per-head RMSNorm of q and k before RoPE. */
  readonly qkNorm: boolean;
  /** MoE (qwen3moe): experts per layer (0 = dense FFN), experts used per token, expert FFN width. */
  readonly nExpert: number;
  readonly nExpertUsed: number;
  readonly nFfExp: number;
}

export interface ForwardModel {
  readonly config: ForwardConfig;
  /** How matmul inputs are rounded (see LoadOptions). */
  readonly numerics?: "exact" | "llama";
  /** Float32 data of every tensor by GGUF name (matrices row-major: rows = ne1). */
  readonly weights: ReadonlyMap<string, Float32Array>;
}

const NEOX_ARCHES = new Set(["qwen2", "qwen3", "qwen2moe", "qwen3moe", "phi3", "gemma", "gemma2", "stablelm", "gptneox"]);
const SUPPORTED = new Set(["llama", "qwen2", "qwen3", "qwen3moe"]);

/** Hyper-parameters from the source's metadata (llama.cpp key names). */
export function forwardConfig(src: TensorSource): ForwardConfig {
  const md = src.metadata;
  const arch = String(md.get("general.architecture") ?? "");
  if (!SUPPORTED.has(arch)) {
    throw new QuantscopeError(`${src.path}: the reference forward pass supports llama, qwen2, qwen3 and qwen3moe models, not "${arch || "unknown"}"`);
  }
  const num = (k: string, dflt?: number): number => {
    const v = md.get(`${arch}.${k}`);
    const n = typeof v === "bigint" ? Number(v) : Array.isArray(v) ? Number(v[0]) : typeof v === "number" ? v : dflt;
    if (n === undefined || !Number.isFinite(n)) throw new QuantscopeError(`${src.path}: metadata ${arch}.${k} is missing`);
    return n;
  };
  const scaling = md.get("quantscope.hf_rope_scaling");
  if (scaling !== undefined) throw new QuantscopeError(`${src.path}: config.json rope_scaling ${String(scaling)} is not supported by the reference forward pass`);
  const nEmbd = num("embedding_length");
  const nHead = num("attention.head_count");
  const headDim = num("attention.key_length", nEmbd / nHead);
  const tok = src.tensor("token_embd.weight");
  const names = new Set(src.tensors().map((t) => t.name));
  return {
    arch,
    nLayer: num("block_count"),
    nEmbd,
    nHead,
    nHeadKv: num("attention.head_count_kv", nHead),
    headDim,
    nFf: num("feed_forward_length", 0),
    ropeDim: num("rope.dimension_count", headDim),
    ropeTheta: num("rope.freq_base", 10000),
    // safetensors Llama: q/k rows in HF's rotate-half order (see io/hf-config.ts)
    ropeMode: NEOX_ARCHES.has(arch) || md.get("quantscope.rope_neox") === true ? "neox" : "normal",
    eps: num("attention.layer_norm_rms_epsilon", 1e-5),
    vocab: tok.rows,
    qkNorm: names.has("blk.0.attn_q_norm.weight"),
    ...moe(),
  };
  function moe(): { nExpert: number; nExpertUsed: number; nFfExp: number } {
    if (arch !== "qwen3moe") return { nExpert: 0, nExpertUsed: 0, nFfExp: 0 };
    const nExpert = num("expert_count"), nExpertUsed = num("expert_used_count");
    if (!(nExpertUsed >= 1 && nExpertUsed <= nExpert)) throw new QuantscopeError(`${src.path}: ${arch}.expert_used_count ${nExpertUsed} is not within 1..${nExpert}`);
    return { nExpert, nExpertUsed, nFfExp: num("expert_feed_forward_length") };
  }
}

/** Loads every tensor as float32 (fine for the small models this pass is meant for). */
export interface LoadOptions {
  /**
   * "llama": matmul inputs are rounded the way llama.cpp's CPU backend rounds them for each weight's
   * storage type (act-numerics.ts), so measured KL matches llama-perplexity's; "exact" (default):
   * f32 activations, the weight error alone.
   */
  readonly numerics?: "exact" | "llama";
}

export function loadForwardModel(src: TensorSource, maxParams = 200e6, opts: LoadOptions = {}): ForwardModel {
  const config = forwardConfig(src);
  const infos = src.tensors();
  const total = infos.reduce((s, t) => s + t.rows * t.cols, 0);
  if (total > maxParams) {
    throw new QuantscopeError(`${src.path}: ${total} parameters; the reference forward pass is limited to ${maxParams} (it is for small validation models)`);
  }
  const weights = new Map<string, Float32Array>();
  for (const t of infos) {
    const w = src.read(t.name).data;
    if (opts.numerics === "llama" && t.shape.length >= 2) registerWeightType(w, t.type);
    weights.set(t.name, w);
  }
  return { config, weights, numerics: opts.numerics ?? "exact" };
}
