// Mixture-of-experts tensors: llama.cpp stores the experts of a layer as one
// 3-D tensor, ne = [cols, rows per expert, experts] (blk.N.ffn_{gate,up,down}_exps),
// expert e being rows [e*ne1, (e+1)*ne1) of the flattened matrix. These helpers
// read one expert's slice through any TensorSource and collect the model's MoE
// facts from the GGUF metadata, validated against the tensors' shapes.
import { fileError, printable, QuantscopeError } from "./errors.js";
import type { Matrix, TensorInfo, TensorSource } from "./source.js";
import { GgufSource } from "./gguf.js";

/** Number of expert matrices in a tensor: ne2 (1 for 1-D / 2-D tensors). */
export function expertCount(info: TensorInfo): number {
  return info.shape.length >= 3 ? info.shape[2]! : 1;
}

/** Rows of one expert's matrix: ne1 (the whole tensor's rows for a 2-D tensor). */
export function expertRows(info: TensorInfo): number {
  return info.shape.length >= 3 ? info.shape[1]! : info.rows;
}

/** Whether a tensor holds several experts (3-D with ne2 > 1). */
export function isExpertTensor(info: TensorInfo): boolean {
  return expertCount(info) > 1;
}

/** Row range [start, start+count) of expert `expert` in the flattened tensor. */
export function expertRowRange(info: TensorInfo, expert: number): { start: number; count: number } {
  const n = expertCount(info);
  if (info.shape.length > 3 && info.shape.slice(3).some((d) => d !== 1)) {
    throw new QuantscopeError(`${printable(info.name)}: shape [${info.shape.join(", ")}] has more than 3 dimensions; expert slices are defined for 3-D tensors only`);
  }
  if (!Number.isInteger(expert) || expert < 0 || expert >= n) {
    throw new QuantscopeError(`${printable(info.name)} has ${n} expert${n === 1 ? "" : "s"} (shape [${info.shape.join(", ")}]); there is no expert ${expert}`);
  }
  const count = expertRows(info);
  return { start: expert * count, count };
}

/** Expert `expert` of a 3-D tensor as a float32 matrix (ne1 rows x ne0 cols); `into` as for readRows. */
export function readExpert(src: TensorSource, name: string, expert: number, into?: Float32Array): Matrix {
  const { start, count } = expertRowRange(src.tensor(name), expert);
  return src.readRows(name, start, count, into);
}

/** Raw stored bytes (ggml blocks) of expert `expert`, when the source has readRaw. */
export function readExpertRaw(src: TensorSource, name: string, expert: number): Uint8Array {
  if (!src.readRaw) throw new QuantscopeError(`${src.path}: this ${src.format} source cannot return raw bytes`);
  const { start, count } = expertRowRange(src.tensor(name), expert);
  return src.readRaw(name, start, count);
}

export interface MoeFacts {
  /** `<arch>.expert_count`. */
  experts: number;
  /** `<arch>.expert_used_count` (experts each token is routed to), when present. */
  expertsUsed?: number;
  /** `<arch>.expert_shared_count`, when present. */
  sharedExperts?: number;
  /** `<arch>.expert_feed_forward_length` (each expert's FFN width), when present. */
  expertFfn?: number;
  /** The expert tensors (named *_exps.*, 3-D with ne2 = experts). */
  expertTensors: string[];
  /** Bytes of the expert tensors and of all tensors. */
  expertBytes: number;
  totalBytes: number;
}

/** Header offset of a metadata key (GGUF sources), for error messages. */
function kvOffset(src: TensorSource, key: string): number | undefined {
  return src instanceof GgufSource ? src.kvs().find((k) => k.key === key)?.offset : undefined;
}

function metaInt(src: TensorSource, key: string): number | undefined {
  const v = src.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw fileError(src.path, `must be a non-negative integer, is ${printable(String(v))}`, kvOffset(src, key), key);
  }
  return v;
}

/** llama.cpp's merged expert tensors: blk.N.ffn_{gate,up,down,gate_up}_exps.weight (expert biases such as gpt-oss ffn_gate_exps.bias are 2-D and not counted). */
export const EXPERT_NAME = /_exps\.weight$/;

/**
 * The MoE facts of a model, or undefined for a dense model (no expert_count > 1
 * and no *_exps tensor). Validates the metadata against the tensors: every *_exps
 * tensor must be 3-D with ne2 = expert_count, expert_used_count must be 1..expert_count.
 */
export function moeFacts(src: TensorSource): MoeFacts | undefined {
  const arch = src.metadata.get("general.architecture");
  const pre = typeof arch === "string" ? `${arch}.` : "";
  const declared = pre ? metaInt(src, `${pre}expert_count`) : undefined;
  const tensors = src.tensors();
  // By name: other 3-D tensors exist (DeepSeek's MLA attn_k_b/attn_v_b, ne2 = heads).
  const threeD = tensors.filter((t) => EXPERT_NAME.test(t.name));
  if ((declared === undefined || declared <= 1) && threeD.length === 0) return undefined;
  const experts = declared !== undefined && declared > 1 ? declared : threeD[0]!.shape[2] ?? 1;
  for (const t of threeD) {
    if (t.shape.length < 3 || t.shape[2] !== experts) {
      throw fileError(src.path, `has ${t.shape[2]} experts (shape [${t.shape.join(", ")}]) but ${declared !== undefined ? `${pre}expert_count is ${declared}` : `${threeD[0]!.name} has ${experts}`}`, t.offset, `tensor "${t.name}"`);
    }
    if (t.shape.length > 3 && t.shape.slice(3).some((d) => d !== 1)) {
      throw fileError(src.path, `expert tensor shape [${t.shape.join(", ")}] has a 4th dimension > 1`, t.offset, `tensor "${t.name}"`);
    }
  }
  const expertsUsed = pre ? metaInt(src, `${pre}expert_used_count`) : undefined;
  if (expertsUsed !== undefined && (expertsUsed < 1 || expertsUsed > experts)) {
    throw fileError(src.path, `${expertsUsed} experts used per token is outside 1..${experts} (expert_count)`, kvOffset(src, `${pre}expert_used_count`), `${pre}expert_used_count`);
  }
  const sharedExperts = pre ? metaInt(src, `${pre}expert_shared_count`) : undefined;
  const expertFfn = pre ? metaInt(src, `${pre}expert_feed_forward_length`) : undefined;
  const total = tensors.reduce((s, t) => s + t.byteSize, 0);
  return {
    experts, expertsUsed, sharedExperts, expertFfn,
    expertTensors: threeD.map((t) => t.name),
    expertBytes: threeD.reduce((s, t) => s + t.byteSize, 0),
    totalBytes: total,
  };
}
