// Expert-level findings for mixture-of-experts tensors (docs/report.md lists
// the rules): experts the imatrix barely saw, experts whose input carries
// outlier activation power, experts much harder to quantize than their
// siblings. Pure function of the collected evidence.
import type { Finding } from "./diagnosis.js";
import type { ExpertTensorEvidence } from "./experts-evidence.js";
import { EXPERT_TOKEN_THRESHOLDS } from "../imatrix/expert-tokens.js";

export const EXPERT_THRESHOLDS = {
  /** expert-few-tokens: tokens below this fraction of an even share (sum of counts / experts); 0 tokens is high. */
  fewTokensShare: EXPERT_TOKEN_THRESHOLDS.fewTokensShare,
  /** expert-act-outlier: share of the expert's activation power in its top 1 % of columns (the dense act-concentration rule). */
  actTop1Share: 0.10,
  actTop1ShareHigh: 0.25,
  /** expert-hard: relative weight RMSE at the reference type / the median of the tensor's experts. */
  hardRatio: 1.25,
  hardRatioHigh: 1.5,
} as const;

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)} %`;

function median(v: number[]): number {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function list(xs: string[], n = 6): string {
  return xs.slice(0, n).join(", ") + (xs.length > n ? `, … (${xs.length} in all)` : "");
}

/** Findings for each expert tensor; tensors of a layer that share their token counts get one expert-few-tokens finding. */
export function diagnoseExperts(ev: readonly ExpertTensorEvidence[]): Finding[] {
  const out: Finding[] = [];
  const T = EXPERT_THRESHOLDS;

  // expert-few-tokens, once per (layer, counts) group.
  const groups = new Map<string, ExpertTensorEvidence[]>();
  for (const t of ev) {
    if (!t.tokens) continue;
    const key = `${t.layer ?? "-"}|${t.tokens.join(",")}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const g of groups.values()) {
    const tokens = g[0]!.tokens!;
    const even = tokens.reduce((a, b) => a + b, 0) / tokens.length;
    if (!(even > 0)) continue;
    const none = tokens.flatMap((n, x) => (n === 0 ? [x] : []));
    const few = tokens.flatMap((n, x) => (n > 0 && n < T.fewTokensShare * even ? [x] : []));
    if (none.length === 0 && few.length === 0) continue;
    const minShare = Math.min(...tokens) / even;
    const parts: string[] = [];
    if (none.length) parts.push(`expert${none.length === 1 ? "" : "s"} ${list(none.map(String))} saw no tokens in the imatrix: llama-quantize gives ${none.length === 1 ? "it" : "them"} an all-ones importance vector, i.e. quantizes ${none.length === 1 ? "it" : "them"} unweighted, as without an imatrix`);
    if (few.length) parts.push(`expert${few.length === 1 ? "" : "s"} ${list(few.map((x) => `${x} (${tokens[x]} tokens, ${pct(tokens[x]! / even)} of an even share)`))} saw few tokens: llama-quantize uses ${few.length === 1 ? "its" : "their"} importance vector as is, a mean of x² over so few tokens that it is mostly noise`);
    out.push({
      tensor: g.map((t) => t.name).join(", "),
      id: "expert-few-tokens",
      severity: none.length ? "high" : "medium",
      text: `${parts.join("; ")}. Collect the imatrix on more or more varied text.`,
      value: minShare, threshold: T.fewTokensShare,
      evidence: { experts: [...none, ...few], tokens, evenShare: even },
    });
  }

  for (const t of ev) {
    // expert-act-outlier
    if (t.actTop1Share) {
      const hits = t.actTop1Share.flatMap((s, x) => (s >= T.actTop1Share ? [x] : []));
      if (hits.length) {
        const worst = hits.reduce((a, b) => (t.actTop1Share![b]! > t.actTop1Share![a]! ? b : a));
        const k = Math.max(1, Math.floor(t.cols * 0.01));
        const sib = median(t.actTop1Share);
        out.push({
          tensor: t.name, id: "expert-act-outlier",
          severity: t.actTop1Share[worst]! >= T.actTop1ShareHigh ? "high" : "medium",
          text: `in expert${hits.length === 1 ? "" : "s"} ${list(hits.map((x) => `${x} (${pct(t.actTop1Share![x]!)}, cols ${t.topColumns![x]!.join(", ")})`))} the top ${k} of ${t.cols} input columns carry ≥ ${pct(T.actTop1Share, 0)} of the activation power (median expert: ${pct(sib)}): weight errors in those columns are amplified, and only that expert's imatrix slice protects them.`,
          value: t.actTop1Share[worst]!, threshold: T.actTop1Share,
          evidence: { experts: hits, shares: hits.map((x) => t.actTop1Share![x]!), medianShare: sib, topColumns: t.topColumns![worst]! },
        });
      }
    }
    // expert-hard
    const med = median(t.relRmse);
    if (med > 0) {
      const hits = t.relRmse.flatMap((r, x) => (r / med >= T.hardRatio ? [x] : []));
      if (hits.length) {
        const worst = hits.reduce((a, b) => (t.relRmse[b]! > t.relRmse[a]! ? b : a));
        out.push({
          tensor: t.name, id: "expert-hard",
          severity: t.relRmse[worst]! / med >= T.hardRatioHigh ? "high" : "medium",
          text: `expert${hits.length === 1 ? "" : "s"} ${list(hits.map((x) => `${x} (${pct(t.relRmse[x]!)}, ${(t.relRmse[x]! / med).toFixed(2)}×)`))} quantize much worse at ${t.type} than ${hits.length === 1 ? "its" : "their"} siblings (median relative RMSE ${pct(med)}): llama-quantize gives every expert of a tensor the same type, so ${hits.length === 1 ? "this expert sets" : "these experts set"} the tensor's error.`,
          value: t.relRmse[worst]! / med, threshold: T.hardRatio,
          evidence: { experts: hits, relRmse: hits.map((x) => t.relRmse[x]!), medianRelRmse: med, type: t.type },
        });
      }
    }
  }
  const rank = { high: 0, medium: 1, info: 2 } as const;
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}
