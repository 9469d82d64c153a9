// Hugging Face <-> GGUF tensor names for Llama/Qwen-family checkpoints, as
// llama.cpp's convert_hf_to_gguf.py maps them. Note: for architecture
// "llama" the converter also permutes the rows of q_proj/k_proj (RoPE
// layout); we only rename, so those two differ from the GGUF by a row
// permutation (the per-row quantization error is the same set of rows).

const LAYER_MAP: ReadonlyArray<readonly [string, string]> = [
  ["self_attn.q_proj", "attn_q"],
  ["self_attn.k_proj", "attn_k"],
  ["self_attn.v_proj", "attn_v"],
  ["self_attn.o_proj", "attn_output"],
  ["self_attn.q_norm", "attn_q_norm"],
  ["self_attn.k_norm", "attn_k_norm"],
  ["mlp.gate_proj", "ffn_gate"],
  ["mlp.up_proj", "ffn_up"],
  ["mlp.down_proj", "ffn_down"],
  // MoE (Qwen2/3-MoE, DeepSeek, Mixtral): router and shared experts. The experts
  // themselves (mlp.experts.E.*) are merged into 3-D tensors, see hfExpertPart.
  ["mlp.gate", "ffn_gate_inp"],
  ["block_sparse_moe.gate", "ffn_gate_inp"],
  ["mlp.shared_expert.gate_proj", "ffn_gate_shexp"],
  ["mlp.shared_expert.up_proj", "ffn_up_shexp"],
  ["mlp.shared_expert.down_proj", "ffn_down_shexp"],
  ["mlp.shared_expert_gate", "ffn_gate_inp_shexp"],
  ["mlp.shared_experts.gate_proj", "ffn_gate_shexp"],
  ["mlp.shared_experts.up_proj", "ffn_up_shexp"],
  ["mlp.shared_experts.down_proj", "ffn_down_shexp"],
  ["input_layernorm", "attn_norm"],
  ["post_attention_layernorm", "ffn_norm"],
  ["self_attn.rotary_emb.inv_freq", "rope_freqs"],
];

const GLOBAL_MAP: ReadonlyArray<readonly [string, string]> = [
  ["model.embed_tokens", "token_embd"],
  ["model.norm", "output_norm"],
  ["lm_head", "output"],
];

const HF_LAYER = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/;
const GGUF_LAYER = /^blk\.(\d+)\.([a-z0-9_]+)\.(weight|bias)$/;
const SUFFIX = /^(.+)\.(weight|bias)$/;

/** GGUF name for a Hugging Face name; the input unchanged when it has no mapping. */
export function hfToGguf(hf: string): string {
  const m = HF_LAYER.exec(hf);
  if (m) {
    const hit = LAYER_MAP.find(([h]) => h === m[2]);
    return hit ? `blk.${m[1]}.${hit[1]}.${m[3]}` : hf;
  }
  const s = SUFFIX.exec(hf);
  if (s) {
    const hit = GLOBAL_MAP.find(([h]) => h === s[1]);
    if (hit) return `${hit[1]}.${s[2]}`;
  }
  return hf;
}

/** Hugging Face name for a GGUF name; the input unchanged when it has no mapping. */
export function ggufToHf(gguf: string): string {
  const m = GGUF_LAYER.exec(gguf);
  if (m) {
    const hit = LAYER_MAP.find(([, g]) => g === m[2]);
    return hit ? `model.layers.${m[1]}.${hit[0]}.${m[3]}` : gguf;
  }
  const s = SUFFIX.exec(gguf);
  if (s) {
    const hit = GLOBAL_MAP.find(([, g]) => g === s[1]);
    if (hit) return `${hit[0]}.${s[2]}`;
  }
  return gguf;
}

const HF_EXPERT = /^model\.layers\.(\d+)\.(mlp|block_sparse_moe)\.experts\.(\d+)\.(gate_proj|up_proj|down_proj|w1|w2|w3)\.weight$/;
/** Mixtral's w1/w2/w3 are gate/down/up. */
const EXPERT_PROJ: Record<string, string> = {
  gate_proj: "ffn_gate_exps", w1: "ffn_gate_exps", up_proj: "ffn_up_exps", w3: "ffn_up_exps", down_proj: "ffn_down_exps", w2: "ffn_down_exps",
};

/**
 * A Hugging Face per-expert weight (model.layers.N.mlp.experts.E.gate_proj.weight,
 * Mixtral's block_sparse_moe.experts.E.w1.weight): the GGUF 3-D tensor it belongs
 * to (blk.N.ffn_gate_exps.weight, as convert_hf_to_gguf.py stacks them), its expert
 * index, and a name for the whole group (E replaced by "*").
 */
export function hfExpertPart(hf: string): { merged: string; expert: number; group: string } | undefined {
  const m = HF_EXPERT.exec(hf);
  if (!m) return undefined;
  return {
    merged: `blk.${m[1]}.${EXPERT_PROJ[m[4]!]}.weight`,
    expert: Number(m[3]),
    group: `model.layers.${m[1]}.${m[2]}.experts.*.${m[4]}.weight`,
  };
}
