// The report's evidence for mixture-of-experts tensors, one expert at a time
// (bounded memory: one ne1 x ne0 slice): tokens each expert saw in the
// imatrix, how concentrated its input's activation power is (its own imatrix
// slice), and how hard its weights are to quantize at the reference type,
// quantized exactly as llama-quantize does it (the expert's imatrix slice).
import { expertTokens, expertImatrix } from "../../io/imatrix.js";
import { expertCount, expertRows, moeFacts, readExpert } from "../../io/experts.js";
import type { Imatrix, TensorSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { roundTripTensor } from "../../quant/tensor.js";
import { fallbackType, layerOf } from "../plan/mixes.js";
import { splitTensorName } from "../imatrix/stats.js";
import { columnErrors } from "./stats.js";
import { topShare } from "./diagnosis.js";

/** What the report knows about one 3-D expert tensor, per expert. */
export interface ExpertTensorEvidence {
  readonly name: string;
  /** Tensor class, e.g. "ffn_down_exps". */
  readonly kind: string;
  readonly layer?: number;
  readonly experts: number;
  /** Rows (ne1) and columns (ne0) of each expert's matrix. */
  readonly rows: number;
  readonly cols: number;
  /** Reference type the errors were measured at (llama-quantize's fallback for short rows). */
  readonly type: string;
  /** Whether the quantizer got each expert's imatrix slice. */
  readonly usedImatrix: boolean;
  /** Tokens routed to each expert while the imatrix was collected (GGUF imatrix). */
  readonly tokens?: number[];
  /** Per expert: share of its activation power (imatrix slice) in its top max(1, floor(1 % of columns)) columns; NaN for an expert that saw no tokens. */
  readonly actTop1Share?: number[];
  /** Per expert: its 3 loudest input columns. */
  readonly topColumns?: number[][];
  /** Per expert: relative weight RMSE ||W - What|| / ||W|| at `type`. */
  readonly relRmse: number[];
  /** Per expert: imatrix-weighted relative error sqrt(sum_j p_j mse_j / sum_j p_j ms_j), with p its importance vector. */
  readonly relOutputError?: number[];
}

export interface ExpertCollectOptions {
  readonly imatrix?: Imatrix;
  /** Only tensors whose name matches. */
  readonly tensors?: RegExp;
  /** Reference type (default Q2_K, as the rest of the report). */
  readonly type?: string;
  readonly onProgress?: (done: number, total: number, tensor: string) => void;
}

export function collectExpertEvidence(src: TensorSource, opts: ExpertCollectOptions = {}): ExpertTensorEvidence[] {
  const facts = moeFacts(src);
  if (!facts) return [];
  const names = facts.expertTensors.filter((n) => !opts.tensors || opts.tensors.test(n));
  const out: ExpertTensorEvidence[] = [];
  names.forEach((name, i) => {
    opts.onProgress?.(i, names.length, name);
    const info = src.tensor(name);
    const experts = expertCount(info), rows = expertRows(info), cols = info.cols;
    const entry = opts.imatrix?.entries.get(name);
    if (entry && entry.values.length !== cols * experts) {
      throw new QuantscopeError(`${opts.imatrix!.path}: imatrix entry ${name} has ${entry.values.length} values, the tensor [${info.shape.join(", ")}] needs ${cols * experts} (${cols} columns x ${experts} experts)`);
    }
    const type = fallbackType(opts.type ?? "Q2_K", cols).type;
    const relRmse: number[] = [];
    const relOut: number[] = [];
    const share: number[] = [];
    const top: number[][] = [];
    const tokens: number[] = [];
    const buf = new Float32Array(rows * cols);
    for (let e = 0; e < experts; e++) {
      const W = readExpert(src, name, e, buf).data;
      const im = entry ? expertImatrix(entry, cols, e) : undefined;
      const wq = roundTripTensor(type, W, [cols, rows], im);
      const { colMse, colMeanSquare } = columnErrors(W, wq, rows, cols);
      let se = 0, ss = 0, pe = 0, ps = 0;
      for (let j = 0; j < cols; j++) {
        se += colMse[j]!; ss += colMeanSquare[j]!;
        if (im) { pe += im[j]! * colMse[j]!; ps += im[j]! * colMeanSquare[j]!; }
      }
      relRmse.push(ss > 0 ? Math.sqrt(se / ss) : 0);
      if (entry && im) {
        relOut.push(ps > 0 ? Math.sqrt(pe / ps) : 0);
        const n = expertTokens(entry, e);
        tokens.push(n);
        if (n > 0) {
          const t = topShare(im, 0.01);
          share.push(t.share);
          top.push(t.order.slice(0, 3));
        } else {
          share.push(NaN);
          top.push([]);
        }
      }
    }
    out.push({
      name, kind: splitTensorName(name).shortName,
      layer: layerOf(name) ?? undefined, experts, rows, cols, type, usedImatrix: !!entry,
      relRmse,
      ...(entry ? { tokens: entry.counts && entry.counts.length === experts ? tokens : undefined, actTop1Share: share, topColumns: top, relOutputError: relOut } : {}),
    });
  });
  opts.onProgress?.(names.length, names.length, "");
  return out;
}
