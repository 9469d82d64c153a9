// One llama-quantize ftype on one model: every tensor's type and bytes, the
// totals, bits per weight and the file size llama-quantize would write.
import type { TensorSource } from "../../io/source.js";
import { GgufSource } from "../../io/gguf.js";
import { FTYPE_ID, mixModelFromSource, parseMix, sizedMix, type Ftype, type SizedAssignment } from "./mixes.js";
import { quantizedFileSize, quantizedLayout, type ImatrixKv } from "./mix-size.js";

export interface MixTypeTotal {
  readonly type: string;
  readonly tensors: number;
  readonly bytes: number;
}

export interface MixSummaryResult {
  readonly model: string;
  readonly ftype: Ftype;
  /** llama_ftype value written to general.file_type. */
  readonly ftypeId: number;
  readonly hasImatrix: boolean;
  readonly tensors: readonly SizedAssignment[];
  readonly byType: readonly MixTypeTotal[];
  readonly elements: number;
  /** Sum of the tensors' bytes. */
  readonly tensorBytes: number;
  /** 8 x tensorBytes / elements (llama-quantize's "quant size ... BPW"). */
  readonly bpw: number;
  /** Size of the GGUF llama-quantize writes; null when the source is not a GGUF (its header is unknown). */
  readonly fileBytes: number | null;
  /** Tensors whose type llama-quantize refuses to write without --imatrix (empty when one is given). */
  readonly needImatrix: readonly string[];
}

export interface MixSummaryOptions {
  /** The --imatrix llama-quantize would get (changes some rules and adds quantize.imatrix.* keys). */
  readonly imatrix?: ImatrixKv;
}

export function summarizeMix(src: TensorSource, ftypeName: string, opts: MixSummaryOptions = {}): MixSummaryResult {
  const ftype = parseMix(ftypeName);
  const hasImatrix = opts.imatrix !== undefined;
  const tensors = sizedMix(ftype, mixModelFromSource(src), { hasImatrix });
  const byType = new Map<string, { tensors: number; bytes: number }>();
  for (const a of tensors) {
    const e = byType.get(a.type) ?? { tensors: 0, bytes: 0 };
    e.tensors++;
    e.bytes += a.bytes;
    byType.set(a.type, e);
  }
  const elements = tensors.reduce((s, a) => s + a.shape.reduce((x, y) => x * y, 1), 0);
  const tensorBytes = tensors.reduce((s, a) => s + a.bytes, 0);
  const fileBytes = src instanceof GgufSource
    ? quantizedFileSize(quantizedLayout(src.headers, opts.imatrix), tensors.map((a) => a.bytes))
    : null;
  return {
    model: src.path, ftype, ftypeId: FTYPE_ID[ftype], hasImatrix, tensors,
    byType: [...byType].map(([type, e]) => ({ type, ...e })).sort((a, b) => b.bytes - a.bytes),
    elements, tensorBytes, bpw: elements > 0 ? (8 * tensorBytes) / elements : 0, fileBytes,
    needImatrix: hasImatrix ? [] : tensors.filter((a) => a.requiresImatrix).map((a) => a.tensor),
  };
}
