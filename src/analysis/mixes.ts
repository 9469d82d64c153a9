// llama-quantize's per-tensor type choice for its standard mixes (Q2_K,
// Q3_K_M, Q4_K_M, ...), re-derived from the rules of llama_tensor_get_type in
// llama.cpp's src/llama-quant.cpp (commit 3f545becc): tensor categories, the
// attn_v / ffn_down "use_more_bits" layer pattern, GQA / expert conditions,
// output / token_embd rules and the fallback chain when ne0 does not fit a
// type's block. Pure functions over tensor names and shapes.
import { QuantscopeError } from "../io/errors.js";
import { ggmlTypeByName } from "../ggml/types.js";
import type { TensorInfo, TensorSource } from "../io/source.js";

export type TensorCategory =
  | "token_embd" | "attn_q" | "attn_k" | "attn_v" | "attn_qkv" | "attn_kv_b" | "attn_output"
  | "ffn_up" | "ffn_gate" | "ffn_down" | "output" | "other";

/** The mixes quantscope reproduces (llama-quantize ftype names). */
export const STANDARD_MIXES = [
  "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0",
] as const;
export type StandardMix = (typeof STANDARD_MIXES)[number];

/** The mixes shown next to a plan by default (the five). */
export const HEADLINE_MIXES: readonly StandardMix[] = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];

/** What the rules need to know about the model. */
export interface MixModel {
  readonly arch: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nExpert: number;
  readonly tensors: readonly MixTensor[];
}

export interface MixTensor {
  readonly name: string;
  /** ggml shape, ne0 first. */
  readonly shape: readonly number[];
  /** Stored type (kept for tensors that are not quantized). */
  readonly type: string;
}

export interface MixAssignment {
  readonly tensor: string;
  /** Final ggml type name (upper case, e.g. "Q6_K", "F16", "F32"). */
  readonly type: string;
  /** Type the mix rules chose before the block-fit fallback. */
  readonly ruleType: string;
  /** Why: "default", "attn_v use_more_bits", "fallback Q6_K->Q8_0 (ne0 64 % 256)", ... */
  readonly reason: string;
}

const DEFAULT_TYPE: Record<StandardMix, string> = {
  Q2_K: "Q2_K", Q3_K_S: "Q3_K", Q3_K_M: "Q3_K", Q3_K_L: "Q3_K", Q4_K_S: "Q4_K", Q4_K_M: "Q4_K",
  Q5_K_S: "Q5_K", Q5_K_M: "Q5_K", Q6_K: "Q6_K", Q8_0: "Q8_0",
};

export function parseMix(name: string): StandardMix {
  const up = name.toUpperCase();
  const alias: Record<string, StandardMix> = { Q3_K: "Q3_K_M", Q4_K: "Q4_K_M", Q5_K: "Q5_K_M" };
  const m = alias[up] ?? (STANDARD_MIXES as readonly string[]).find((x) => x === up);
  if (!m) throw new QuantscopeError(`unknown mix "${name}" (known: ${STANDARD_MIXES.join(", ")})`);
  return m as StandardMix;
}

/** llama-quantize's tensor category (substring rules, in its order). */
export function tensorCategory(name: string): TensorCategory {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  if (name.includes("attn_qkv.weight")) return "attn_qkv";
  if (name.includes("attn_kv_b.weight")) return "attn_kv_b";
  if (name.includes("attn_v.weight")) return "attn_v";
  if (name.includes("attn_k.weight")) return "attn_k";
  if (name.includes("attn_q.weight")) return "attn_q";
  if (name.includes("attn_output.weight")) return "attn_output";
  if (name.includes("ffn_up")) return "ffn_up";
  if (name.includes("ffn_gate")) return "ffn_gate";
  if (name.includes("ffn_down")) return "ffn_down";
  return "other";
}

/** Layer index from "blk.N.", or null. */
export function layerOf(name: string): number | null {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/** Would llama-quantize quantize this tensor at all? (2-D+, name ends in "weight", not a norm, ...) */
export function allowsQuantization(name: string, nDims: number): boolean {
  if (nDims < 2) return false;
  if (!name.endsWith("weight")) return false;
  const never = ["_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
    "shortconv.conv.weight", "time_mix_", "attn_rel_b.weight", ".position_embd", ".rel_pos", ".patch_embd"];
  if (never.some((s) => name.includes(s))) return false;
  if (name === "position_embd.weight" || name === "token_types.weight") return false;
  return true;
}

/** Result of the block-fit fallback. */
export interface FallbackResult {
  readonly type: string;
  readonly fallback: boolean;
  readonly note?: string;
}

/**
 * llama-quantize's tensor_type_fallback: when ne0 is not a multiple of the
 * type's block size, 256-block types fall back to a 32-block sibling, and to
 * F16 when even that does not fit. Other types have no fallback: llama-quantize
 * aborts, and so do we (QuantscopeError).
 */
export function fallbackType(type: string, ne0: number): FallbackResult {
  const t = ggmlTypeByName(type);
  if (!t) throw new QuantscopeError(`unknown ggml type "${type}"`);
  if (ne0 % t.blockSize === 0) return { type: t.name, fallback: false };
  const chain: Record<string, string> = {
    IQ1_S: "IQ4_NL", IQ1_M: "IQ4_NL", IQ2_XXS: "IQ4_NL", IQ2_XS: "IQ4_NL", IQ2_S: "IQ4_NL",
    IQ3_XXS: "IQ4_NL", IQ3_S: "IQ4_NL", IQ4_XS: "IQ4_NL",
    Q2_0: "Q4_0", Q2_K: "Q4_0", Q3_K: "Q4_0", TQ1_0: "Q4_0", TQ2_0: "Q4_0",
    Q4_K: "Q5_0", Q5_K: "Q5_1", Q6_K: "Q8_0",
  };
  const next = chain[t.name];
  if (!next) {
    throw new QuantscopeError(
      `no tensor type fallback is defined for type ${t.name} (row length ${ne0} is not a multiple of ${t.blockSize}); llama-quantize fails here too`,
    );
  }
  const nt = ggmlTypeByName(next)!;
  if (ne0 % nt.blockSize !== 0) {
    return { type: "F16", fallback: true, note: `${t.name}->${next}->F16 (ne0 ${ne0} % ${nt.blockSize})` };
  }
  return { type: next, fallback: true, note: `${t.name}->${next} (ne0 ${ne0} % ${t.blockSize})` };
}

/** Reads the hyper-parameters the rules use from GGUF metadata. */
export function mixModelFromSource(src: TensorSource): MixModel {
  const md = src.metadata;
  const arch = String(md.get("general.architecture") ?? "llama");
  const num = (k: string): number | undefined => {
    const v = md.get(`${arch}.${k}`);
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    if (Array.isArray(v) && v.length > 0) return Number(v[0]);
    return undefined;
  };
  const tensors = src.tensors().map((t: TensorInfo) => ({ name: t.name, shape: t.shape, type: t.type }));
  const layersFromNames = tensors.reduce((m, t) => Math.max(m, (layerOf(t.name) ?? -1) + 1), 0);
  const nHead = num("attention.head_count") ?? 1;
  return {
    arch,
    nLayer: num("block_count") ?? layersFromNames,
    nHead,
    nHeadKv: num("attention.head_count_kv") ?? nHead,
    nExpert: num("expert_count") ?? 0,
    tensors,
  };
}

/** The layer pattern llama.cpp gives extra bits: first and last eighth, and every third layer between. */
export function useMoreBits(i: number, n: number): boolean {
  const e = Math.trunc(n / 8);
  return i < e || i >= Math.trunc((7 * n) / 8) || (i - e) % 3 === 2;
}

// llama.cpp walks tensors ordered by layer number, then name (weights_map's
// comparator); the attn_v / ffn_down counters follow that order.
function llamaOrder(a: MixTensor, b: MixTensor): number {
  const la = layerOf(a.name) ?? -1, lb = layerOf(b.name) ?? -1;
  if (la !== lb) return la - lb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export interface MixOptions {
  /** Whether an imatrix is passed (only changes a few IQ/Q4_0 rules; kept for fidelity). */
  readonly hasImatrix?: boolean;
}

/**
 * The per-tensor types llama-quantize writes for `mix` on this model.
 * Tensors it does not quantize keep their stored type (norms: F32).
 */
export function standardMix(mixName: StandardMix | string, model: MixModel, _opts: MixOptions = {}): MixAssignment[] {
  const mix = parseMix(mixName);
  const def = DEFAULT_TYPE[mix];
  const ordered = [...model.tensors].sort(llamaOrder);
  const nAttnV = ordered.filter((t) => isAttnV(tensorCategory(t.name))).length;
  const hasOutput = ordered.some((t) => t.name === "output.weight");
  const nGqa = model.nHeadKv > 0 ? Math.trunc(model.nHead / model.nHeadKv) : 1;
  const nExpert = model.nExpert;
  const nLayer = model.nLayer;
  let iAttnV = 0;
  let iFfnDown = 0;
  const out: MixAssignment[] = [];
  for (const t of ordered) {
    if (!allowsQuantization(t.name, t.shape.length)) {
      out.push({ tensor: t.name, type: t.type.toUpperCase(), ruleType: t.type.toUpperCase(), reason: "not quantized (1-D / norm)" });
      continue;
    }
    const cat = tensorCategory(t.name);
    const ne0 = t.shape[0]!;
    let type = def;
    let reason = "default";
    const layer = layerOf(t.name);
    if (cat === "output" || (!hasOutput && cat === "token_embd")) {
      const blk = ggmlTypeByName(type)!.blockSize;
      if (ne0 % blk !== 0) { type = "Q8_0"; reason = `output: ne0 ${ne0} % ${blk} -> Q8_0`; }
      else if (type !== "Q8_0") { type = "Q6_K"; reason = "output -> Q6_K"; }
    } else if (cat === "token_embd") {
      // K-mixes leave the (untied) token embedding at the default type.
    } else if (isAttnV(cat)) {
      if (mix === "Q2_K") { type = nGqa >= 4 ? "Q4_K" : "Q3_K"; reason = `attn_v in Q2_K (n_gqa ${nGqa})`; }
      else if (mix === "Q3_K_M") { type = iAttnV < 2 ? "Q5_K" : "Q4_K"; reason = iAttnV < 2 ? "attn_v, first two layers" : "attn_v in Q3_K_M"; }
      else if (mix === "Q3_K_L") { type = "Q5_K"; reason = "attn_v in Q3_K_L"; }
      else if ((mix === "Q4_K_M" || mix === "Q5_K_M") && useMoreBits(iAttnV, nAttnV)) { type = "Q6_K"; reason = "attn_v use_more_bits layer"; }
      else if (mix === "Q4_K_S" && iAttnV < 4) { type = "Q5_K"; reason = "attn_v, first four layers"; }
      if (nExpert === 8) { type = "Q8_0"; reason = "attn_v, 8 experts"; }
      iAttnV++;
    } else if (cat === "attn_k") {
      if (nExpert === 8) { type = "Q8_0"; reason = "attn_k, 8 experts"; }
    } else if (cat === "ffn_down") {
      const iLayer = nExpert > 1 && layer !== null ? layer : iFfnDown;
      const n = nLayer;
      const falcon = model.arch === "falcon";
      if (mix === "Q2_K") { type = "Q3_K"; reason = "ffn_down in Q2_K"; }
      else if (mix === "Q3_K_M") {
        if (iLayer < Math.trunc(n / 16)) { type = "Q5_K"; reason = "ffn_down, first sixteenth"; }
        else if (!falcon || useMoreBits(iLayer, n)) { type = "Q4_K"; reason = "ffn_down in Q3_K_M"; }
        else type = "Q3_K";
      } else if (mix === "Q3_K_L") { type = falcon ? "Q4_K" : "Q5_K"; reason = "ffn_down in Q3_K_L"; }
      else if (mix === "Q4_K_M") {
        if (falcon) type = iLayer < Math.trunc(n / 16) ? "Q6_K" : useMoreBits(iLayer, n) ? "Q5_K" : "Q4_K";
        else if (useMoreBits(iLayer, n)) { type = "Q6_K"; reason = "ffn_down use_more_bits layer"; }
      } else if (mix === "Q5_K_M" && useMoreBits(iLayer, n)) { type = "Q6_K"; reason = "ffn_down use_more_bits layer"; }
      else if (mix === "Q4_K_S" && !falcon && iLayer < Math.trunc(n / 8)) { type = "Q5_K"; reason = "ffn_down, first eighth"; }
      iFfnDown++;
    } else if (cat === "attn_output") {
      if (model.arch !== "falcon") {
        if (nExpert === 8) {
          if (["Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"].includes(mix)) { type = "Q5_K"; reason = "attn_output, 8 experts"; }
        } else if (mix === "Q2_K") { type = "Q3_K"; reason = "attn_output in Q2_K"; }
        else if (mix === "Q3_K_M") { type = "Q4_K"; reason = "attn_output in Q3_K_M"; }
        else if (mix === "Q3_K_L") { type = "Q5_K"; reason = "attn_output in Q3_K_L"; }
      } else if (mix === "Q3_K_L") type = "Q4_K";
    } else if (cat === "attn_qkv") {
      if (mix === "Q3_K_M" || mix === "Q3_K_L") type = "Q4_K";
      else if (mix === "Q4_K_M") type = "Q5_K";
      else if (mix === "Q5_K_M") type = "Q6_K";
      reason = "fused attn_qkv";
    }
    const fb = fallbackType(type, ne0);
    out.push({ tensor: t.name, type: fb.type, ruleType: type, reason: fb.fallback ? `${reason}; fallback ${fb.note}` : reason });
  }
  return out;
}

function isAttnV(c: TensorCategory): boolean {
  return c === "attn_v" || c === "attn_qkv" || c === "attn_kv_b";
}

/** Bytes of a tensor of `shape` stored as `type`. */
export function tensorBytes(type: string, shape: readonly number[]): number {
  const t = ggmlTypeByName(type);
  if (!t) throw new QuantscopeError(`unknown ggml type "${type}"`);
  const n = shape.reduce((a, b) => a * b, 1);
  return (n / t.blockSize) * t.typeSize;
}
