// The per-tensor type plan: one type per quantizable tensor minimising the
// total predicted damage (sum of single-tensor predicted KLs) under a size
// budget. Per-tensor Pareto frontiers, a Lagrangian sweep over their convex
// hulls (gives λ, the price of a byte), an exact multiple-choice knapsack DP
// over the budget in small granules, then greedy filling and pairwise
// exchanges to use the bytes the granule rounding leaves over.
import { QuantscopeError } from "../../io/errors.js";
import { typeInfo } from "../../quant/index.js";
import { findCodec, codecNames } from "../../quant/registry.js";
import { ggmlTypeByName } from "../../ggml/types.js";
import { fallbackType, requiresImatrix, tensorBytes, type MixModel, type StandardMix } from "./mixes.js";
import { mixMenu, nearestMixes, sizeMix, type BuildableMix } from "./mix-menu.js";
import type { SweepRecord, SweepResult } from "../sweep/types.js";
import { damageOf, predictionSource, type DamageSource } from "../sensitivity/damage.js";

export interface PlanCandidate {
  /** Effective ggml type written to the file. */
  readonly type: string;
  readonly bytes: number;
  /** Single-tensor KL (nats/token): measured when the sweep measured it, else predicted. */
  readonly damage: number;
  /** Where `damage` came from (sensitivity/damage.ts). */
  readonly source?: DamageSource;
  /** The prediction is uncertain (the record's sensitivityBasis: borrowed gain, missing model facts). */
  readonly uncertain?: boolean;
  /** Unpadded bytes when `bytes` was padded to the file's alignment (PlanOptions.alignment). */
  readonly rawBytes?: number;
}

export interface PlanChoice {
  readonly tensor: string;
  readonly type: string;
  readonly bytes: number;
  readonly bpw: number;
  readonly elements: number;
  readonly damage: number;
  /** Where `damage` came from: measured (sweep --measure-kl), calib, or the gain table on activations / imatrix / weights. */
  readonly source: DamageSource | "unknown";
  /** Set when the prediction is uncertain (~): why and the range (the record's sensitivityBasis). */
  readonly uncertain?: { readonly range: readonly [number, number]; readonly note: string };
  readonly pinned: boolean;
  readonly why: string;
}

export interface MixSummary {
  readonly mix: string;
  /** File size. */
  readonly bytes: number;
  readonly bpw: number;
  /** Sum of the swept tensors' predicted KLs; NaN when a type of the mix has no sweep record. */
  readonly predictedKl: number;
  /** Tensors whose type in the mix has no sweep record. */
  readonly unknown: number;
  /** Why predictedKl is n/a: "type IQ3_S not supported" (no codec) or "type X not swept". */
  readonly klNote?: string;
  /** llama-quantize's type and bytes for every tensor of the model. */
  readonly tensors: readonly { readonly tensor: string; readonly type: string; readonly bytes: number }[];
}

export interface PlanResult {
  readonly model: string;
  readonly budgetBytes: number;
  /** Tensor data bytes of the plan (quantized tensors + passengers). */
  readonly bytes: number;
  /** Estimated file size: bytes + the source file's non-tensor overhead. */
  readonly fileBytes: number;
  readonly bpw: number;
  readonly predictedKl: number;
  readonly choices: readonly PlanChoice[];
  readonly mixes: readonly MixSummary[];
  readonly notes: readonly string[];
  readonly lambda: number;
  /** Which KL the allocation minimised: measured for every tensor, predicted for every tensor, or some of each. */
  readonly damageSource: "predicted" | "measured" | "mixed";
}

export interface PlanOptions {
  /** Target bits per weight over all tensors (8 × bytes / elements). */
  readonly targetBpw?: number;
  /** Target file size in bytes (tensor data + overhead). */
  readonly targetSize?: number;
  /** Non-tensor bytes of the file (header, metadata, alignment). */
  readonly overheadBytes?: number;
  /** tensor name or kind ("token_embd", "output", "attn_v") -> ggml type. */
  readonly pins?: ReadonlyMap<string, string>;
  /** Whether an imatrix will be used (types that require one are allowed only then). */
  readonly hasImatrix?: boolean;
  /** The model's tensor list for the standard-mix comparison. */
  readonly mixModel?: MixModel;
  /** Ftypes to compare with; default: the 2 just below and the 2 just above the target among all 32. */
  readonly mixes?: readonly (StandardMix | string)[];
  /** Exact file size from every tensor's bytes (GGUF: plan/mix-size.ts); else tensor bytes + overheadBytes. */
  readonly fileSize?: (tensorBytes: readonly number[]) => number;
  /** GGUF data alignment: each tensor costs its bytes rounded up to it, so the file fits --target-size exactly. */
  readonly alignment?: number;
  /**
   * What a candidate's damage is. Default: per tensor, the single-tensor KL measured with the reference
   * forward pass when the sweep measured every candidate of it (`sweep --measure-kl`), else the
   * prediction. "predicted" ignores measurements; "measured" refuses a sweep that lacks any. The
   * mixes' summed KLs use the same records, so plan and mixes stay comparable.
   */
  readonly damage?: "predicted" | "measured";
}

/**
 * The plan's default candidate types: every type with a registered codec that
 * llama-quantize can write per tensor (quantized ggml types; its
 * --tensor-type parser accepts any ggml type name), minus the imatrix-only
 * ones when there is no imatrix. IQ types join as their codecs are merged.
 */
export function planCandidateTypes(hasImatrix: boolean): string[] {
  return codecNames()
    .filter((n) => (ggmlTypeByName(n)?.blockSize ?? 1) > 1)
    .filter((n) => hasImatrix || !requiresImatrix("blk.0.x.weight", n));
}

/**
 * Candidates of one tensor from its sweep records, deduplicated by effective type, cheapest first.
 * Damage: the measured KL when every usable record of the tensor has one (sweep --measure-kl), else the
 * prediction (one source per tensor, so its candidates compare like with like).
 */
export function candidatesOf(records: readonly SweepRecord[], hasImatrix: boolean): PlanCandidate[] {
  const best = new Map<string, PlanCandidate>();
  const usable = records.filter((r) => !r.skipped && Number.isFinite(r.sensitivity) && (hasImatrix || !needsImatrix(r.tensor, r.type)));
  const measured = usable.length > 0 && usable.every((r) => damageOf(r).source === "measured");
  for (const r of usable) {
    const c: PlanCandidate = measured
      ? { type: r.type, bytes: r.bytes, damage: r.measuredKl!, source: "measured" }
      : { type: r.type, bytes: r.bytes, damage: r.sensitivity, source: predictionSource(r), ...(r.sensitivityBasis ? { uncertain: true } : {}) };
    const old = best.get(r.type);
    if (!old || c.damage < old.damage) best.set(r.type, c);
  }
  return [...best.values()].sort((a, b) => a.bytes - b.bytes || a.damage - b.damage);
}

// llama-quantize refuses these without an imatrix (tensor_requires_imatrix: IQ1/IQ2/IQ3_XXS, not for
// token_embd/output), and a codec that cannot quantize without one could not have been swept.
function needsImatrix(tensor: string, type: string): boolean {
  if (requiresImatrix(tensor, type)) return true;
  try { return typeInfo(type).imatrix === "required"; } catch { return false; }
}

/** Pareto frontier: strictly less damage for every extra byte. */
export function paretoFrontier(c: readonly PlanCandidate[]): PlanCandidate[] {
  const out: PlanCandidate[] = [];
  for (const x of [...c].sort((a, b) => a.bytes - b.bytes || a.damage - b.damage)) {
    if (out.length === 0 || x.damage < out[out.length - 1]!.damage) {
      if (out.length && out[out.length - 1]!.bytes === x.bytes) out.pop();
      out.push(x);
    }
  }
  return out;
}

/** Lower convex hull of a Pareto frontier (the points a Lagrangian can pick). */
export function convexHull(f: readonly PlanCandidate[]): PlanCandidate[] {
  const h: PlanCandidate[] = [];
  for (const p of f) {
    while (h.length >= 2) {
      const a = h[h.length - 2]!, b = h[h.length - 1]!;
      // b is above the segment a-p: drop it
      if ((b.damage - a.damage) * (p.bytes - a.bytes) >= (p.damage - a.damage) * (b.bytes - a.bytes)) h.pop();
      else break;
    }
    h.push(p);
  }
  return h;
}

interface Slot {
  readonly tensor: string;
  readonly elements: number;
  readonly frontier: PlanCandidate[];
  readonly pinned: boolean;
  choice: number;
}

/** Exact-name or kind pins ("token_embd" matches token_embd.weight, "attn_v" every blk.N.attn_v.weight). */
function pinFor(name: string, pins: ReadonlyMap<string, string> | undefined): string | undefined {
  if (!pins) return undefined;
  if (pins.has(name)) return pins.get(name);
  for (const [k, v] of pins) {
    if (name === `${k}.weight` || name.endsWith(`.${k}.weight`)) return v;
  }
  return undefined;
}

/** The records' damage source forced: "measured" requires every usable record to have one, "predicted" hides them. */
function forceDamage(sweep: SweepResult, damage: "predicted" | "measured" | undefined): SweepResult {
  if (damage === "predicted") {
    return { ...sweep, records: sweep.records.map((r) => (r.measuredKl === undefined ? r : { ...r, measuredKl: undefined })) };
  }
  if (damage === "measured") {
    const missing = sweep.records.find((r) => !r.skipped && !(r.measuredKl !== undefined && Number.isFinite(r.measuredKl)));
    if (missing) throw new QuantscopeError(`plan --damage measured: ${missing.tensor} at ${missing.type} has no measured KL (run the sweep with --measure-kl)`);
  }
  return sweep;
}

export function plan(input: SweepResult, opts: PlanOptions): PlanResult {
  const sweep = forceDamage(input, opts.damage);
  const overhead = opts.overheadBytes ?? 0;
  const byTensor = new Map<string, SweepRecord[]>();
  for (const r of sweep.records) {
    const l = byTensor.get(r.tensor) ?? [];
    l.push(r);
    byTensor.set(r.tensor, l);
  }
  const passengerBytes = sweep.passengers.reduce((s, p) => s + p.bytes, 0);
  // What a tensor costs in the file: its bytes padded to the alignment (when given).
  const al = opts.alignment ?? 1;
  const padded = (c: PlanCandidate): PlanCandidate => (al > 1 && c.bytes % al ? { ...c, bytes: Math.ceil(c.bytes / al) * al, rawBytes: c.bytes } : c);
  const passengerCost = sweep.passengers.reduce((s, p) => s + Math.ceil(p.bytes / al) * al, 0);
  const passengerElems = sweep.passengers.reduce((s, p) => s + p.elements, 0);
  const notes: string[] = [];
  const slots: Slot[] = [];
  for (const [tensor, recs] of byTensor) {
    const r0 = recs[0]!;
    const elements = r0.rows * r0.cols;
    const pin = pinFor(tensor, opts.pins);
    if (pin) {
      const info = ggmlTypeByName(pin);
      if (!info) throw new QuantscopeError(`--pin ${tensor}=${pin}: unknown type`);
      const fb = fallbackType(info.name, r0.cols);
      if (fb.fallback) notes.push(`pin ${tensor}=${info.name} falls back to ${fb.type} (${fb.note})`);
      const rec = recs.find((r) => r.type === fb.type && !r.skipped);
      const d = rec ? damageOf(rec) : undefined;
      if (!rec) notes.push(`pinned ${tensor} to ${fb.type}: not swept, damage unknown (counted as 0)`);
      slots.push({ tensor, elements, pinned: true, choice: 0, frontier: [padded({ type: fb.type, bytes: tensorBytes(fb.type, [r0.cols, r0.rows]), damage: d?.value ?? NaN, ...(d ? { source: d.source, uncertain: d.uncertain } : {}) })] });
      continue;
    }
    const frontier = paretoFrontier(candidatesOf(recs, opts.hasImatrix ?? false).map(padded));
    if (frontier.length === 0) throw new QuantscopeError(`no usable type for ${tensor} among the swept types (${recs.map((r) => r.requestedType).join(", ")})`);
    slots.push({ tensor, elements, pinned: false, choice: 0, frontier });
  }
  const totalElems = passengerElems + slots.reduce((s, x) => s + x.elements, 0);
  let budget: number;
  if (opts.targetSize !== undefined) budget = opts.targetSize - overhead;
  else if (opts.targetBpw !== undefined) budget = (opts.targetBpw * totalElems) / 8;
  else throw new QuantscopeError("plan needs --target-bpw or --target-size");
  const budgetFor = budget - passengerCost;
  const bytesOf = () => slots.reduce((s, x) => s + x.frontier[x.choice]!.bytes, 0);
  const minBytes = slots.reduce((s, x) => s + x.frontier[0]!.bytes, 0);
  if (minBytes > budgetFor) {
    throw new QuantscopeError(
      `budget too small: the cheapest types already need ${fmtBytes(minBytes + passengerCost + overhead)} ` +
      `(${((8 * (minBytes + passengerCost)) / totalElems).toFixed(3)} bpw), the target is ${fmtBytes(budget + overhead)}`,
    );
  }
  const lambda = lagrangian(slots, budgetFor);
  knapsack(slots, budgetFor);
  greedyFill(slots, budgetFor, bytesOf);
  exchange(slots, budgetFor, bytesOf);
  const dmg = (c: { damage: number }) => (Number.isFinite(c.damage) ? c.damage : 0);
  const choices: PlanChoice[] = slots.map((s) => {
    const c = s.frontier[s.choice]!;
    return {
      tensor: s.tensor, type: c.type, bytes: c.rawBytes ?? c.bytes, bpw: (8 * (c.rawBytes ?? c.bytes)) / s.elements, elements: s.elements,
      damage: c.damage, source: c.source ?? "unknown", ...(c.uncertain ? { uncertain: basisOf(byTensor.get(s.tensor)!, c.type) } : {}),
      pinned: s.pinned, why: whyOf(s),
    };
  });
  const bytes = choices.reduce((s, c) => s + c.bytes, 0) + passengerBytes;
  const fileBytes = opts.fileSize ? opts.fileSize([...choices.map((c) => c.bytes), ...sweep.passengers.map((p) => p.bytes)]) : bytes + overhead;
  const sizing = { hasImatrix: opts.hasImatrix ?? false, overheadBytes: overhead, fileSize: opts.fileSize };
  let compared: BuildableMix[] = [];
  if (opts.mixModel && opts.mixes) compared = opts.mixes.map((m) => sizeMix(m, opts.mixModel!, sizing));
  else if (opts.mixModel) {
    const menu = mixMenu(opts.mixModel, sizing);
    compared = nearestMixes(menu.mixes, budget + overhead);
    notes.push(`compared with the ftypes just below and above the target among the ${menu.mixes.length} llama-quantize builds for this model (--compare to choose)` +
      (menu.unbuildable.length ? `; not buildable: ${menu.unbuildable.map((u) => u.mix).join(", ")}` : ""));
  }
  const mixes = compared.map((m) => mixSummary(m, byTensor, totalElems));
  return {
    model: sweep.model, budgetBytes: budget + overhead, bytes, fileBytes,
    bpw: (8 * bytes) / totalElems,
    predictedKl: choices.reduce((s, c) => s + dmg(c), 0),
    choices, mixes, notes, lambda,
    damageSource: choices.every((c) => c.source === "measured") ? "measured" : choices.some((c) => c.source === "measured") ? "mixed" : "predicted",
  };
}

/** Bisection on λ: each slot takes argmin damage + λ·bytes; the smallest λ that fits. */
function lagrangian(slots: Slot[], budget: number): number {
  const pick = (lam: number) => {
    let total = 0;
    for (const s of slots) {
      let best = 0, bv = Infinity;
      s.frontier.forEach((c, i) => { const v = c.damage + lam * c.bytes; if (v < bv) { bv = v; best = i; } });
      s.choice = best;
      total += s.frontier[best]!.bytes;
    }
    return total;
  };
  let lo = 0, hi = 1;
  while (pick(hi) > budget && hi < 1e12) hi *= 4;
  if (pick(lo) <= budget) return 0;
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    if (pick(mid) > budget) lo = mid; else hi = mid;
  }
  pick(hi);
  return hi;
}

/**
 * Multiple-choice knapsack by dynamic programming over the budget. Costs are bytes above each tensor's
 * cheapest type. When the greatest common divisor of those byte steps divides the room into few enough
 * units (always for a model's per-tensor types: the steps are multiples of rows × 2 bytes or so), the DP
 * runs in units of that divisor and is exact: every assignment that fits is considered, including one
 * that fills the budget to the byte, like a standard mix sized to it. Otherwise it works in fixed
 * granules with costs rounded up (the result always fits, and may miss an assignment within a granule
 * per tensor of the budget's edge). Replaces the Lagrangian choice when it is at least as good; the
 * hull-only Lagrangian misses non-convex points and multi-tensor trades that the DP finds.
 */
function knapsack(slots: Slot[], budget: number, granules = 20000): void {
  const base = slots.reduce((s, x) => s + x.frontier[0]!.bytes, 0);
  const room = budget - base;
  if (room <= 0) return;
  const N = slots.length;
  let step = 0;
  for (const s of slots) for (const c of s.frontier) step = gcd(step, c.bytes - s.frontier[0]!.bytes);
  const exactUnits = step > 0 ? Math.floor(room / step + 1e-9) : 0;
  const exact = step > 0 && N * (exactUnits + 1) <= 4e7;
  const units = exact ? exactUnits : granules;
  if (N * units * 8 > 4e8) return; // too large: keep the Lagrangian + greedy result
  const G = exact ? step : room / units;
  const before = slots.map((s) => s.choice);
  const damageOf = () => slots.reduce((t, s) => t + s.frontier[s.choice]!.damage, 0);
  const dBefore = damageOf();
  let dp = new Float64Array(units + 1);
  const arg = new Uint8Array(N * (units + 1));
  for (let i = 0; i < N; i++) {
    const f = slots[i]!.frontier;
    const b0 = f[0]!.bytes;
    const cost = f.map((c) => Math.ceil((c.bytes - b0) / G - 1e-9));
    const next = new Float64Array(units + 1).fill(Infinity);
    for (let u = 0; u <= units; u++) {
      for (let k = 0; k < f.length; k++) {
        const c = cost[k]!;
        if (c > u) break;
        const v = dp[u - c]! + f[k]!.damage;
        if (v < next[u]!) { next[u] = v; arg[i * (units + 1) + u] = k; }
      }
    }
    dp = next;
  }
  let u = units;
  for (let i = N - 1; i >= 0; i--) {
    const k = arg[i * (units + 1) + u]!;
    slots[i]!.choice = k;
    const f = slots[i]!.frontier;
    u -= Math.ceil((f[k]!.bytes - f[0]!.bytes) / G - 1e-9);
  }
  if (damageOf() > dBefore) slots.forEach((s, i) => { s.choice = before[i]!; });
}

/** Greatest common divisor of two byte counts (integers; a non-integer count makes the DP use granules). */
function gcd(a: number, b: number): number {
  if (!Number.isInteger(a) || !Number.isInteger(b)) return NaN;
  a = Math.abs(a); b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Spends leftover bytes: repeatedly the upgrade with the best damage saved per byte that still fits. */
function greedyFill(slots: Slot[], budget: number, bytesOf: () => number): void {
  for (;;) {
    const left = budget - bytesOf();
    let best: { s: Slot; i: number; gain: number } | null = null;
    for (const s of slots) {
      const cur = s.frontier[s.choice]!;
      for (let i = s.choice + 1; i < s.frontier.length; i++) {
        const c = s.frontier[i]!;
        const extra = c.bytes - cur.bytes;
        if (extra > left) break;
        const gain = (cur.damage - c.damage) / Math.max(1, extra);
        if (!best || gain > best.gain) best = { s, i, gain };
      }
    }
    if (!best || best.gain <= 0) return;
    best.s.choice = best.i;
  }
}

/** Pairwise exchanges: upgrade one tensor while downgrading another, when it lowers the total and fits. */
function exchange(slots: Slot[], budget: number, bytesOf: () => number): void {
  for (let pass = 0; pass < 20; pass++) {
    let improved = false;
    let used = bytesOf();
    for (const up of slots) {
      for (let i = up.choice + 1; i < up.frontier.length; i++) {
        const cu = up.frontier[up.choice]!, nu = up.frontier[i]!;
        const extra = nu.bytes - cu.bytes;
        const gain = cu.damage - nu.damage;
        let best: { s: Slot; j: number; net: number } | null = null;
        for (const down of slots) {
          if (down === up) continue;
          for (let j = 0; j < down.choice; j++) {
            const cd = down.frontier[down.choice]!, nd = down.frontier[j]!;
            if (used + extra - (cd.bytes - nd.bytes) > budget) continue;
            const net = gain - (nd.damage - cd.damage);
            if (net > 1e-15 && (!best || net > best.net)) best = { s: down, j, net };
          }
        }
        if (best) {
          used += extra - (best.s.frontier[best.s.choice]!.bytes - best.s.frontier[best.j]!.bytes);
          up.choice = i;
          best.s.choice = best.j;
          improved = true;
          break;
        }
      }
    }
    if (!improved) return;
  }
}

function whyOf(s: Slot): string {
  if (s.pinned) return "pinned";
  if (s.frontier.length === 1) return "only usable type";
  const c = s.frontier[s.choice]!;
  const next = s.frontier[s.choice + 1];
  if (!next) return "best available type (least damage)";
  const per = (c.damage - next.damage) / ((next.bytes - c.bytes) / 1024);
  return `${next.type} would save ${fmtKl(c.damage - next.damage)} for +${fmtBytes(next.bytes - c.bytes)} (${fmtKl(per)}/KiB: not worth it at this budget)`;
}

/** A mix's size and summed predicted KL; n/a (NaN, with the reason) when one of its types has no sweep record. */
function mixSummary(m: BuildableMix, byTensor: Map<string, SweepRecord[]>, totalElems: number): MixSummary {
  let kl = 0, unknown = 0;
  const missing = new Set<string>();
  for (const a of m.tensors) {
    const recs = byTensor.get(a.tensor);
    if (!recs) continue; // passenger (norm) or not swept
    const r = recs.find((x) => x.type === a.type && !x.skipped);
    if (r) kl += damageOf(r).value;
    else if (a.type !== "F16" && a.type !== "F32" && a.type !== "BF16") { unknown++; missing.add(a.type); }
  }
  const types = [...missing];
  const unsupported = types.filter((t) => !findCodec(t));
  const klNote = unsupported.length ? `type ${unsupported.join(", ")} not supported`
    : types.length ? `type ${types.join(", ")} not swept (add it to --types)` : undefined;
  return {
    mix: m.mix, bytes: m.fileBytes, bpw: (8 * m.bytes) / totalElems, predictedKl: klNote ? NaN : kl, unknown, klNote,
    tensors: m.tensors.map((a) => ({ tensor: a.tensor, type: a.type, bytes: a.bytes })),
  };
}

/** The uncertainty of the record behind a chosen type (its sensitivityBasis). */
function basisOf(recs: readonly SweepRecord[], type: string): { range: readonly [number, number]; note: string } {
  const b = recs.find((r) => r.type === type && !r.skipped && r.sensitivityBasis)?.sensitivityBasis;
  return b ? { range: b.range, note: b.note } : { range: [NaN, NaN], note: "uncertain prediction" };
}

export function fmtBytes(n: number): string {
  if (Math.abs(n) >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (Math.abs(n) >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

export function fmtKl(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : "n/a";
}

/** The type a plan gives a tensor, as a map. */
export function planTypes(p: PlanResult): Map<string, string> {
  return new Map(p.choices.map((c) => [c.tensor, c.type]));
}

/**
 * Lines for llama-quantize --tensor-type-file: one `REGEX=type` per tensor,
 * the exact name escaped and anchored (llama-quantize matches with
 * std::regex_search and lowercases the name part; the first matching line
 * wins; types are matched case-insensitively against ggml_type_name).
 */
export function tensorTypeLines(p: PlanResult): string[] {
  return p.choices.map((c) => `^${escapeRegex(c.tensor)}$=${ggmlTypeName(c.type)}`);
}

export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/** ggml_type_name spelling ("q4_K", "q8_0", "f16"). */
export function ggmlTypeName(type: string): string {
  return type.toLowerCase().replace(/_k$/, "_K").replace(/_k_/, "_K_");
}
