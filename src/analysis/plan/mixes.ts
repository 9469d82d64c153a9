// llama-quantize's per-tensor type choice for every quantized ftype it offers
// (Q4_K_M, IQ2_XXS, MXFP4_MOE, ...), re-derived from the rules of
// llama_tensor_get_type in llama.cpp's src/llama-quant.cpp (commit 3f545becc):
// tensor categories, the ftype -> default type table, the attn_v / ffn_down
// "use_more_bits" layer pattern, GQA / expert / 70B conditions, the rules that
// depend on whether an imatrix is given, output / token_embd rules and the
// fallback chain when ne0 does not fit a type's block. Pure functions over
// tensor names and shapes; bytes come from the ggml type table only, so a mix
// can be sized whether or not quantscope has a codec for its types.
import { QuantscopeError } from "../../io/errors.js";
import { ggmlTypeByName } from "../../ggml/types.js";
import type { TensorInfo, TensorSource } from "../../io/source.js";

export type TensorCategory =
  | "token_embd" | "attn_q" | "attn_k" | "attn_v" | "attn_qkv" | "attn_kv_b" | "attn_output"
  | "ffn_up" | "ffn_gate" | "ffn_down" | "output" | "other";

/** Every quantized ftype llama-quantize lists (tools/quantize/quantize.cpp, in its order). */
export const FTYPES = [
  "Q1_0", "Q2_0", "Q4_0", "Q4_1", "MXFP4_MOE", "Q5_0", "Q5_1", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M",
  "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0", "Q2_K", "Q2_K_S", "IQ3_XXS", "IQ3_S", "IQ3_M", "IQ3_XS",
  "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ4_NL", "IQ4_XS", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0",
] as const;
export type Ftype = (typeof FTYPES)[number];

/** The mixes quantscope reproduces: all of llama-quantize's quantized ftypes. */
export const STANDARD_MIXES: readonly Ftype[] = FTYPES;
export type StandardMix = Ftype;

/** The mixes the diagnosis shows (the five K-quant mixes). */
export const HEADLINE_MIXES: readonly StandardMix[] = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];

/** llama.h's enum llama_ftype values (written to general.file_type). */
export const FTYPE_ID: Readonly<Record<Ftype, number>> = {
  Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13, Q4_K_S: 14,
  Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, IQ2_XXS: 19, IQ2_XS: 20, Q2_K_S: 21, IQ3_XS: 22, IQ3_XXS: 23,
  IQ1_S: 24, IQ4_NL: 25, IQ3_S: 26, IQ3_M: 27, IQ2_S: 28, IQ2_M: 29, IQ4_XS: 30, IQ1_M: 31, TQ1_0: 36,
  TQ2_0: 37, MXFP4_MOE: 38, Q1_0: 40, Q2_0: 41,
};

/** llama_ftype_get_default_type: the type of every tensor no rule singles out. */
export const DEFAULT_TYPE: Readonly<Record<Ftype, string>> = {
  Q1_0: "Q1_0", Q2_0: "Q2_0", Q4_0: "Q4_0", Q4_1: "Q4_1", MXFP4_MOE: "MXFP4", Q5_0: "Q5_0", Q5_1: "Q5_1",
  IQ2_XXS: "IQ2_XXS", IQ2_XS: "IQ2_XS", IQ2_S: "IQ2_XS", IQ2_M: "IQ2_S", IQ1_S: "IQ1_S", IQ1_M: "IQ1_M",
  TQ1_0: "TQ1_0", TQ2_0: "TQ2_0", Q2_K: "Q2_K", Q2_K_S: "Q2_K", IQ3_XXS: "IQ3_XXS", IQ3_S: "IQ3_S",
  IQ3_M: "IQ3_S", IQ3_XS: "IQ3_S", Q3_K_S: "Q3_K", Q3_K_M: "Q3_K", Q3_K_L: "Q3_K", IQ4_NL: "IQ4_NL",
  IQ4_XS: "IQ4_XS", Q4_K_S: "Q4_K", Q4_K_M: "Q4_K", Q5_K_S: "Q5_K", Q5_K_M: "Q5_K", Q6_K: "Q6_K", Q8_0: "Q8_0",
};

/** What the rules need to know about the model. */
export interface MixModel {
  readonly arch: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** hparams.n_expert (0 for dense models). */
  readonly nExpert: number;
  readonly tensors: readonly MixTensor[];
}

export interface MixTensor {
  readonly name: string;
  /** ggml shape, ne0 first (3 dims for stacked experts). */
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
  /** llama-quantize refuses to write this tensor's type without an imatrix (tensor_requires_imatrix). */
  readonly requiresImatrix?: boolean;
}

export interface MixOptions {
  /**
   * Whether llama-quantize gets --imatrix (default false, as llama-quantize).
   * It changes IQ3_XXS attn_v / ffn_down, IQ4_NL / IQ4_XS ffn_down and
   * Q4_0 / Q5_0 ffn_down, and decides whether IQ1/IQ2/IQ3_XXS types are allowed.
   */
  readonly hasImatrix?: boolean;
}

const ALIASES: Record<string, Ftype> = { Q3_K: "Q3_K_M", Q4_K: "Q4_K_M", Q5_K: "Q5_K_M" };

/** llama-quantize ftype name (case-insensitive, Q3_K/Q4_K/Q5_K aliases) -> ftype; QuantscopeError otherwise. */
export function parseMix(name: string): StandardMix {
  const up = name.trim().toUpperCase();
  const m = ALIASES[up] ?? FTYPES.find((x) => x === up);
  if (!m) throw new QuantscopeError(`unknown ftype "${name}" (valid: ${FTYPES.join(", ")}; aliases Q3_K, Q4_K, Q5_K)`);
  return m;
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

const NEVER_QUANTIZED = [
  "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
  "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
  ...["first", "w0", "w1", "w2", "v0", "v1", "v2", "a0", "a1", "a2", "g1", "g2", "decay_w1", "decay_w2", "lerp_fused"]
    .map((s) => `time_mix_${s}.weight`),
  "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
  ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
];

/** Would llama-quantize quantize this tensor at all? (2-D/3-D, name ends in "weight", not a norm, ...) */
export function allowsQuantization(name: string, nDims: number): boolean {
  if (nDims < 2) return false;
  if (!name.endsWith("weight")) return false;
  if (NEVER_QUANTIZED.some((s) => name.includes(s))) return false;
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

/** Types llama-quantize refuses to write without an imatrix (tensor_requires_imatrix). */
const IMATRIX_REQUIRED = new Set(["IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"]);

/**
 * tensor_requires_imatrix: the IQ1/IQ2/IQ3_XXS types, and Q2_K inside a Q2_K_S
 * file; never token_embd or output. `ftype` is the file's ftype (for a
 * --tensor-type override, the ftype given on the command line).
 */
export function requiresImatrix(tensor: string, type: string, ftype?: string): boolean {
  if (tensor === "token_embd.weight" || tensor === "per_layer_token_embd.weight" || tensor === "output.weight") return false;
  const t = type.toUpperCase();
  if (IMATRIX_REQUIRED.has(t)) return true;
  return t === "Q2_K" && ftype !== undefined && ftype.toUpperCase() === "Q2_K_S";
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
// comparator); the attn_v / ffn_* counters follow that order.
function llamaOrder(a: MixTensor, b: MixTensor): number {
  const la = layerOf(a.name) ?? -1, lb = layerOf(b.name) ?? -1;
  if (la !== lb) return la - lb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** LLM_TYPE_70B, the one model size the rules look at (llama, deci, olmo, qwen2 with 80 layers; jais2 with 68). */
function is70B(m: MixModel): boolean {
  if (m.arch === "llama") return m.nExpert !== 8 && m.nLayer === 80 && m.nHead !== m.nHeadKv;
  if (m.arch === "deci" || m.arch === "olmo" || m.arch === "qwen2") return m.nLayer === 80;
  return m.arch === "jais2" && m.nLayer === 68;
}

/** Mutable state of one walk over the model (quantize_state_impl). */
interface RuleState {
  readonly model: MixModel;
  readonly ftype: Ftype;
  readonly hasImatrix: boolean;
  readonly hasTiedEmbeddings: boolean;
  readonly nAttnV: number;
  readonly nGqa: number;
  readonly is70B: boolean;
  iAttnV: number;
  iFfnDown: number;
  iFfnGate: number;
  iFfnUp: number;
}

const IQ12_FTYPES: ReadonlySet<string> = new Set(["IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"]);

/** layer_info: the tensor's layer from its name for MoE models, else the running counter. */
function layerInfo(st: RuleState, counter: number, name: string): number {
  if (Math.max(1, st.model.nExpert) <= 1) return counter;
  const l = layerOf(name);
  if (l === null) throw new QuantscopeError(`Failed to determine layer for tensor ${name}`);
  if (l >= st.model.nLayer) throw new QuantscopeError(`Bad layer ${l} for tensor ${name}. Must be in [0, ${st.model.nLayer})`);
  return l;
}

/** llama_tensor_get_type_impl: the rule type of one quantizable tensor, with a reason. */
function ruleType(st: RuleState, t: MixTensor, cat: TensorCategory): [string, string] {
  const f = st.ftype;
  const m = st.model;
  const n = m.nLayer;
  const n8 = Math.trunc(n / 8);
  const falcon = m.arch === "falcon";
  const def = DEFAULT_TYPE[f];
  const is = (...fs: Ftype[]) => fs.includes(f);
  if (cat === "output" || (st.hasTiedEmbeddings && cat === "token_embd")) {
    const blk = ggmlTypeByName(def)!.blockSize;
    const what = cat === "output" ? "output" : "tied token_embd";
    if (f === "MXFP4_MOE") return ["Q8_0", `${what} in MXFP4_MOE`];
    if (falcon || t.shape[0]! % blk !== 0) return ["Q8_0", falcon ? `${what}, falcon` : `${what}: ne0 ${t.shape[0]} % ${blk}`];
    if (is("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")) return ["Q5_K", `${what} in ${f}`];
    if (def !== "Q8_0") return ["Q6_K", `${what} -> Q6_K`];
    return [def, "default"];
  }
  if (f === "MXFP4_MOE") {
    // 3-D expert tensors -> MXFP4, everything else Q8_0 (bailingmoe3 only for its ffn experts).
    const expertRole = cat === "ffn_up" || cat === "ffn_gate" || cat === "ffn_down";
    if ((t.shape[2] ?? 1) > 1 && (m.arch !== "bailingmoe3" || expertRole)) return ["MXFP4", "expert tensor in MXFP4_MOE"];
    return ["Q8_0", "non-expert tensor in MXFP4_MOE"];
  }
  if (cat === "token_embd") {
    if (is("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M")) return ["Q2_K", `token_embd in ${f}`];
    if (is("IQ2_S", "IQ2_M", "IQ3_XXS")) return ["IQ3_S", `token_embd in ${f}`];
    if (is("TQ1_0", "TQ2_0", "Q2_0")) return ["Q4_K", `token_embd in ${f}`];
    return [def, "default"];
  }
  const attnV = cat === "attn_v" || cat === "attn_qkv" || cat === "attn_kv_b";
  if (IQ12_FTYPES.has(f)) {
    const iq2sm = is("IQ2_S", "IQ2_M");
    if (attnV) {
      st.iAttnV++;
      if (st.nGqa >= 4 || m.nExpert >= 4) return ["Q4_K", `attn_v in ${f} (n_gqa ${st.nGqa}, n_expert ${m.nExpert})`];
      return [iq2sm ? "IQ3_S" : "Q2_K", `attn_v in ${f}`];
    }
    if (m.nExpert === 8 && cat === "attn_k") return ["Q4_K", "attn_k, 8 experts"];
    if (cat === "ffn_down") {
      const first = st.iFfnDown < Math.trunc(n / 8);
      st.iFfnDown++;
      if (first) return [iq2sm ? "IQ3_S" : "Q2_K", "ffn_down, first eighth"];
      return [def, "default"];
    }
    if (cat === "attn_output") {
      if (m.nExpert === 8) return ["Q5_K", "attn_output, 8 experts"];
      if (is("IQ1_S", "IQ1_M")) return ["IQ2_XXS", `attn_output in ${f}`];
      if (iq2sm) return ["IQ3_S", `attn_output in ${f}`];
    }
    return [def, "default"];
  }
  if (attnV) {
    const i = st.iAttnV++;
    let ty = def, why = "default";
    if (f === "Q2_K") { ty = st.nGqa >= 4 ? "Q4_K" : "Q3_K"; why = `attn_v in Q2_K (n_gqa ${st.nGqa})`; }
    else if (f === "Q2_K_S" && st.nGqa >= 4) { ty = "Q4_K"; why = `attn_v in Q2_K_S (n_gqa ${st.nGqa})`; }
    else if (f === "IQ3_XXS") {
      ty = st.nGqa >= 4 ? "Q4_K" : !st.hasImatrix ? "IQ3_S" : "IQ3_XXS";
      why = st.nGqa >= 4 ? `attn_v in IQ3_XXS (n_gqa ${st.nGqa})` : `attn_v in IQ3_XXS, ${st.hasImatrix ? "with" : "no"} imatrix`;
    }
    else if (is("IQ3_XS", "IQ3_S") && st.nGqa >= 4) { ty = "Q4_K"; why = `attn_v in ${f} (n_gqa ${st.nGqa})`; }
    else if (f === "IQ3_M") { ty = "Q4_K"; why = "attn_v in IQ3_M"; }
    else if (f === "Q3_K_M") { ty = i < 2 ? "Q5_K" : "Q4_K"; why = i < 2 ? "attn_v, first two" : "attn_v in Q3_K_M"; }
    else if (f === "Q3_K_L") { ty = "Q5_K"; why = "attn_v in Q3_K_L"; }
    else if (is("IQ4_NL", "IQ4_XS") && st.nGqa >= 4) { ty = "Q5_K"; why = `attn_v in ${f} (n_gqa ${st.nGqa})`; }
    else if (is("Q4_K_M", "Q5_K_M") && useMoreBits(i, st.nAttnV)) { ty = "Q6_K"; why = "attn_v use_more_bits layer"; }
    else if (f === "Q4_K_S" && i < 4) { ty = "Q5_K"; why = "attn_v, first four"; }
    if (st.is70B && (ty === "Q3_K" || ty === "Q4_K")) { ty = "Q5_K"; why = "attn_v, 70B"; }
    if (m.nExpert === 8) { ty = "Q8_0"; why = "attn_v, 8 experts"; }
    return [ty, why];
  }
  if (cat === "attn_k") {
    if (m.nExpert === 8) return ["Q8_0", "attn_k, 8 experts"];
    if (f === "IQ3_XS") return ["IQ3_XXS", "attn_k in IQ3_XS"];
    if (f === "IQ3_XXS") return ["IQ2_S", "attn_k in IQ3_XXS"];
    return [def, "default"];
  }
  if (cat === "attn_q") {
    if (f === "IQ3_XS") return ["IQ3_XXS", "attn_q in IQ3_XS"];
    if (f === "IQ3_XXS") return ["IQ2_S", "attn_q in IQ3_XXS"];
    return [def, "default"];
  }
  if (cat === "ffn_down") {
    const il = layerInfo(st, st.iFfnDown, t.name);
    st.iFfnDown++;
    const more = useMoreBits(il, n);
    if (f === "Q2_K") return ["Q3_K", "ffn_down in Q2_K"];
    if (f === "Q2_K_S") return il < n8 ? ["Q4_K", "ffn_down, first eighth"] : [def, "default"];
    if (f === "IQ3_XXS" && !st.hasImatrix) return il < n8 ? ["Q4_K", "ffn_down, first eighth, no imatrix"] : ["Q3_K", "ffn_down in IQ3_XXS, no imatrix"];
    if (f === "Q3_K_M") {
      if (il < Math.trunc(n / 16)) return ["Q5_K", "ffn_down, first sixteenth"];
      return !falcon || more ? ["Q4_K", "ffn_down in Q3_K_M"] : ["Q3_K", "ffn_down in Q3_K_M, falcon"];
    }
    if (f === "IQ3_M" && (il < n8 || (m.nExpert === 8 && more))) return ["Q4_K", il < n8 ? "ffn_down, first eighth" : "ffn_down use_more_bits, 8 experts"];
    if (f === "Q3_K_L") return [falcon ? "Q4_K" : "Q5_K", "ffn_down in Q3_K_L"];
    if (f === "Q4_K_M") {
      if (falcon) return [il < Math.trunc(n / 16) ? "Q6_K" : more ? "Q5_K" : "Q4_K", "ffn_down in Q4_K_M, falcon"];
      return more ? ["Q6_K", "ffn_down use_more_bits layer"] : [def, "default"];
    }
    if (il < n8 && is("IQ4_NL", "IQ4_XS") && !st.hasImatrix) return ["Q5_K", "ffn_down, first eighth, no imatrix"];
    if (f === "Q5_K_M" && more) return ["Q6_K", "ffn_down use_more_bits layer"];
    if (f === "Q4_K_S" && !falcon && il < n8) return ["Q5_K", "ffn_down, first eighth"];
    if (is("Q4_0", "Q5_0") && st.hasImatrix && il < n8) return [f === "Q4_0" ? "Q4_1" : "Q5_1", "ffn_down, first eighth, with imatrix"];
    return [def, "default"];
  }
  if (cat === "attn_output") {
    if (!falcon) {
      if (m.nExpert === 8) {
        if (is("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS")) {
          return ["Q5_K", "attn_output, 8 experts"];
        }
      } else if (f === "Q2_K") return ["Q3_K", "attn_output in Q2_K"];
      else if (f === "IQ3_XXS") return ["IQ3_S", "attn_output in IQ3_XXS"];
      else if (f === "Q3_K_M") return ["Q4_K", "attn_output in Q3_K_M"];
      else if (f === "Q3_K_L") return ["Q5_K", "attn_output in Q3_K_L"];
      else if (f === "IQ3_M") return ["Q4_K", "attn_output in IQ3_M"];
    } else if (f === "Q3_K_L") return ["Q4_K", "attn_output in Q3_K_L, falcon"];
    return [def, "default"];
  }
  // (llama.cpp's separate attn_qkv branch is unreachable: attn_qkv is attn_v-like and handled above.)
  if (cat === "ffn_gate" || cat === "ffn_up") {
    const counter = cat === "ffn_gate" ? st.iFfnGate : st.iFfnUp;
    const il = layerInfo(st, counter, t.name);
    if (cat === "ffn_gate") st.iFfnGate++; else st.iFfnUp++;
    if (f === "IQ3_XS" && il >= n8 && il < Math.trunc((7 * n) / 8)) return ["IQ3_XXS", `${cat} in IQ3_XS, middle layers`];
    return [def, "default"];
  }
  return [def, "default"];
}

/**
 * The per-tensor types llama-quantize writes for ftype `mixName` on this model
 * (in its tensor order: by layer, then name). Tensors it does not quantize keep
 * their stored type (norms: F32). Throws where llama-quantize aborts (a type
 * without a fallback on a row length that does not fit its block).
 */
export function standardMix(mixName: StandardMix | string, model: MixModel, opts: MixOptions = {}): MixAssignment[] {
  const ftype = parseMix(mixName);
  const ordered = [...model.tensors].sort(llamaOrder);
  const st: RuleState = {
    model, ftype, hasImatrix: opts.hasImatrix ?? false,
    hasTiedEmbeddings: !ordered.some((t) => tensorCategory(t.name) === "output"),
    nAttnV: ordered.filter((t) => isAttnV(tensorCategory(t.name))).length,
    nGqa: model.nHeadKv > 0 ? Math.trunc(model.nHead / model.nHeadKv) : 0,
    is70B: is70B(model),
    iAttnV: 0, iFfnDown: 0, iFfnGate: 0, iFfnUp: 0,
  };
  const out: MixAssignment[] = [];
  for (const t of ordered) {
    if (!allowsQuantization(t.name, t.shape.length)) {
      const ty = t.type.toUpperCase();
      out.push({ tensor: t.name, type: ty, ruleType: ty, reason: "not quantized (1-D / norm / excluded)" });
      continue;
    }
    const [rt, reason] = ruleType(st, t, tensorCategory(t.name));
    const fb = fallbackType(rt, t.shape[0]!);
    out.push({
      tensor: t.name, type: fb.type, ruleType: rt,
      reason: fb.fallback ? `${reason}; fallback ${fb.note}` : reason,
      requiresImatrix: requiresImatrix(t.name, fb.type, ftype),
    });
  }
  return out;
}

function isAttnV(c: TensorCategory): boolean {
  return c === "attn_v" || c === "attn_qkv" || c === "attn_kv_b";
}

/** Bytes of a tensor of `shape` stored as `type` (3-D experts: per-expert bytes x n_expert). */
export function tensorBytes(type: string, shape: readonly number[]): number {
  const t = ggmlTypeByName(type);
  if (!t) throw new QuantscopeError(`unknown ggml type "${type}"`);
  const n = shape.reduce((a, b) => a * b, 1);
  return (n / t.blockSize) * t.typeSize;
}

/** A mix assignment with the tensor's shape and its bytes in the chosen type. */
export interface SizedAssignment extends MixAssignment {
  readonly shape: readonly number[];
  readonly bytes: number;
}

/** standardMix with each tensor's bytes from the ggml type table (no codec needed). */
export function sizedMix(mixName: StandardMix | string, model: MixModel, opts: MixOptions = {}): SizedAssignment[] {
  const shapes = new Map(model.tensors.map((t) => [t.name, t.shape]));
  return standardMix(mixName, model, opts).map((a) => {
    const shape = shapes.get(a.tensor)!;
    return { ...a, shape, bytes: tensorBytes(a.type, shape) };
  });
}
