// A Hugging Face config.json (beside a safetensors checkpoint) as the GGUF
// hyper-parameter keys llama.cpp's convert_hf_to_gguf.py writes for it, so a
// safetensors model runs through the same forward pass as its GGUF. Only the
// architectures the forward pass supports are mapped; floats are stored as
// float32, as the converter stores them (eps and rope base then match the GGUF
// bit for bit).
import { existsSync, readFileSync, statSync } from "node:fs";
import { fileError } from "./errors.js";

/** HF model_type -> GGUF general.architecture. */
const ARCH: Record<string, string> = { llama: "llama", qwen2: "qwen2", qwen3: "qwen3", qwen3_moe: "qwen3moe" };

/** GGUF key (after "<arch>.") <- config.json key, integers. */
const INT_KEYS: ReadonlyArray<readonly [string, string]> = [
  ["block_count", "num_hidden_layers"],
  ["context_length", "max_position_embeddings"],
  ["embedding_length", "hidden_size"],
  ["feed_forward_length", "intermediate_size"],
  ["attention.head_count", "num_attention_heads"],
  ["attention.head_count_kv", "num_key_value_heads"],
  ["attention.key_length", "head_dim"],
  ["attention.value_length", "head_dim"],
  ["expert_count", "num_experts"],
  ["expert_used_count", "num_experts_per_tok"],
  ["expert_feed_forward_length", "moe_intermediate_size"],
];

const FLOAT_KEYS: ReadonlyArray<readonly [string, string]> = [
  ["rope.freq_base", "rope_theta"],
  ["attention.layer_norm_rms_epsilon", "rms_norm_eps"],
];

const MAX_CONFIG_BYTES = 4 << 20;

/**
 * GGUF-style metadata from the config.json in `dir`, or undefined when there is
 * none. An unknown model_type maps to no architecture (the forward pass then
 * names it); a config that does not parse, or a hyper-parameter of the wrong
 * kind, is refused naming the file and key.
 */
export function hfConfigMetadata(dir: string): Map<string, unknown> | undefined {
  const path = `${dir}/config.json`;
  if (!existsSync(path)) return undefined;
  if (statSync(path).size > MAX_CONFIG_BYTES) throw fileError(path, "is too large for a model config.json");
  let cfg: Record<string, unknown>;
  try {
    const json: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not an object");
    cfg = json as Record<string, unknown>;
  } catch (e) {
    throw fileError(path, `is not a readable config.json (${(e as Error).message.split("\n")[0]})`);
  }
  const md = new Map<string, unknown>();
  const type = typeof cfg["model_type"] === "string" ? (cfg["model_type"] as string) : "";
  const arch = ARCH[type];
  md.set("general.architecture", arch ?? (type || "unknown"));
  if (!arch) return md;
  for (const [g, h] of INT_KEYS) {
    const v = cfg[h];
    if (v === undefined || v === null) continue;
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw fileError(path, `${JSON.stringify(v)} is not a non-negative integer`, undefined, h);
    md.set(`${arch}.${g}`, v);
  }
  for (const [g, h] of FLOAT_KEYS) {
    const v = cfg[h];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw fileError(path, `${JSON.stringify(v)} is not a positive number`, undefined, h);
    md.set(`${arch}.${g}`, Math.fround(v));
  }
  const scaling = cfg["rope_scaling"];
  if (scaling !== undefined && scaling !== null) {
    // llama.cpp applies these (YaRN, llama3 frequency factors); the reference pass does not
    md.set("quantscope.hf_rope_scaling", JSON.stringify(scaling));
  }
  // HF Llama checkpoints keep q/k rows in rotate-half order; the converter permutes them
  // for ggml's interleaved RoPE. Unpermuted rows with NeoX-style RoPE compute the same.
  if (arch === "llama") md.set("quantscope.rope_neox", true);
  return md;
}
