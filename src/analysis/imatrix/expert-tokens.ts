// How many tokens each expert saw while llama-imatrix collected an imatrix.
// An expert's importance vector is the mean of x^2 over the tokens routed to
// it: an expert that saw few tokens has a noisy vector, one that saw none has
// no vector at all (llama-quantize then uses 1 in every column: plain,
// unweighted quantization). Pure: reads only the Imatrix.
import type { Imatrix } from "../../io/source.js";
import { splitTensorName } from "./stats.js";

export const EXPERT_TOKEN_THRESHOLDS = {
  /**
   * An expert is "starved" when it saw fewer than this fraction of an even share
   * of the routed tokens (sum of the counts / experts). Routers are rarely even;
   * a quarter of the even share is far outside normal load imbalance.
   */
  fewTokensShare: 0.25,
} as const;

export interface ExpertTokenGroup {
  /** Layer ("0", "1", ... or "-"), as llama-imatrix names it. */
  layer: string;
  /** Expert tensors of that layer with exactly these counts (gate/up/down normally share them). */
  tensors: string[];
  /** Tokens routed to each expert. */
  counts: number[];
  /** sum(counts) / experts. */
  evenShare: number;
  /** Experts with 0 < count < fewTokensShare x evenShare. */
  few: number[];
  /** Experts with count 0. */
  none: number[];
}

/** One group per layer and distinct per-expert counts vector, for every MoE entry (GGUF imatrix only). */
export function expertTokenGroups(im: Imatrix, fewTokensShare: number = EXPERT_TOKEN_THRESHOLDS.fewTokensShare): ExpertTokenGroup[] {
  const groups = new Map<string, ExpertTokenGroup>();
  for (const e of im.entries.values()) {
    if (!e.experts || !e.counts || e.counts.length < 2) continue;
    const { layer } = splitTensorName(e.name);
    const key = `${layer}\u0000${e.counts.join(",")}`;
    const g = groups.get(key);
    if (g) {
      g.tensors.push(e.name);
      continue;
    }
    const total = e.counts.reduce((a, b) => a + b, 0);
    const evenShare = total / e.counts.length;
    const few: number[] = [];
    const none: number[] = [];
    e.counts.forEach((c, x) => {
      if (c === 0) none.push(x);
      else if (c < fewTokensShare * evenShare) few.push(x);
    });
    groups.set(key, { layer, tensors: [e.name], counts: e.counts.slice(), evenShare, few, none });
  }
  const order = (l: string) => (/^\d+$/.test(l) ? Number(l) : Infinity);
  return [...groups.values()].sort((a, b) => order(a.layer) - order(b.layer) || (a.tensors[0]! < b.tensors[0]! ? -1 : 1));
}
