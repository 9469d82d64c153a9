// Residual-stream energies of a model from its weights (and imatrix, when
// given): what the fallback sensitivity model (sensitivity/gain-table.ts, predictKlReach)
// needs to turn a tensor's relative output error into a relative perturbation
// of the final residual stream, without running the model.
//
// For a pre-norm transformer the residual path is the identity, so to first
// order an error δy written into the residual stream at any depth reaches the
// final RMSNorm unchanged, where it counts relative to the final residual
// norm: ρ² = ‖δy‖² / ‖h_L‖². A tensor of block l with relative output error r
// perturbs its branch's residual write (attn_output for attn_*, ffn_down for
// ffn_*) by about r (q/k/v/gate/up errors pass through the branch), so
// ρ² ≈ r² · E‖y_branch‖² / E‖h_L‖². Energies are per token:
//   E‖y‖² = Σ_j colEnergy_j · E[x_j²]   (inputs taken uncorrelated),
//   E‖h_L‖² = E‖embedding‖² + Σ_l E‖y_attn_output,l‖² + E‖y_ffn_down,l‖²   (writes taken uncorrelated).
// E[x_j²] comes from the imatrix (in_sum2 / counts) when it has the tensor;
// otherwise from the weights alone: a normed input has E[x_j²] = γ_j²; the
// attention output has the energy of v (its average over positions, taken as
// no smaller); the FFN's product silu(g)·u has E[silu(g)²]·E[u²] with g, u
// Gaussian of the variances their rows give.
import type { Imatrix, TensorSource } from "../../io/source.js";

export interface ResidualEnergies {
  /** E‖y‖² per token of each block's residual writes (attn_output, ffn_down). */
  readonly output: ReadonlyMap<string, number>;
  /** E‖h‖² of the residual stream where each block's attention / FFN branch reads it ("blk.N.attn", "blk.N.ffn"). */
  readonly residualAt: ReadonlyMap<string, number>;
  /** E‖token embedding‖², mean over the vocabulary. */
  readonly embedding: number;
  /** E‖h_L‖² at the final norm (uncorrelated sum of the embedding and every residual write). */
  readonly final: number;
  /** Blocks whose residual writes came from the imatrix (the others from the weights alone). */
  readonly fromImatrix: number;
  readonly nLayers: number;
  /** Mean logit variance σ_z² = E‖W_out (γ ⊙ x̂)‖² / vocab for a unit-RMS x̂ (the output head's gain). */
  readonly logitVariance: number;
}

const num = (src: TensorSource, key: string, dflt = NaN): number => {
  const arch = String(src.metadata.get("general.architecture") ?? "");
  const v = src.metadata.get(`${arch}.${key}`);
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : dflt;
};

/** Σ over rows of W² per input column, and of each row weighted by `ex` (when given), streamed in row blocks. */
function energies(src: TensorSource, name: string, ex?: ArrayLike<number>): { col: Float64Array; row: Float64Array | null } {
  const info = src.tensor(name);
  const rows = info.rows, cols = info.cols;
  const col = new Float64Array(cols), row = ex ? new Float64Array(rows) : null;
  const step = Math.max(1, Math.floor((1 << 20) / cols));
  for (let r0 = 0; r0 < rows; r0 += step) {
    const n = Math.min(step, rows - r0);
    const w = src.readRows(name, r0, n).data;
    for (let o = 0; o < n; o++) {
      const b = o * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) { const x = w[b + j]! * w[b + j]!; col[j]! += x; if (ex) s += x * ex[j]!; }
      if (row) row[r0 + o] = s;
    }
  }
  return { col, row };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };

/** E[silu(g)²] for g ~ N(0, s²) (midpoint rule over ±8 s; silu(g) = g·sigmoid(g)). */
export function siluSquareMean(s2: number): number {
  const s = Math.sqrt(s2), n = 256, h = 16 / n;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const z = -8 + (i + 0.5) * h, g = z * s;
    const silu = g / (1 + Math.exp(-g));
    acc += silu * silu * Math.exp(-0.5 * z * z);
  }
  return (acc * h) / Math.sqrt(2 * Math.PI);
}

/**
 * Residual-stream energies of a dense llama/qwen-layout model (blk.N.attn_* / ffn_* matrices), or
 * null when the layout is not that (no token_embd, expert FFNs, missing matrices): then the caller
 * keeps the gain table. Reads token_embd, the head, the norms and each block's attn_output and
 * ffn_down (and, without their imatrix entries, attn_v, ffn_gate and ffn_up), in row blocks.
 */
export function residualEnergies(src: TensorSource, nLayers: number, imatrix?: Imatrix): ResidualEnergies | null {
  const names = new Set(src.tensors().map((t) => t.name));
  const nHead = num(src, "attention.head_count"), nHeadKv = num(src, "attention.head_count_kv", nHead);
  if (!names.has("token_embd.weight") || !(nLayers > 0)) return null;
  const output = new Map<string, number>();
  const residualAt = new Map<string, number>();
  const im = (name: string, cols: number): Float32Array | null => {
    const e = imatrix?.entries.get(name);
    return e && e.values.length === cols && !e.experts ? e.values : null;
  };
  const dim = src.tensor("token_embd.weight").cols;
  const emb = energies(src, "token_embd.weight");
  const embedding = emb.col.reduce((a, b) => a + b, 0) / src.tensor("token_embd.weight").rows;
  const norm2 = (name: string): Float64Array => {
    if (!names.has(name)) return new Float64Array(dim).fill(1);
    return Float64Array.from(src.read(name).data, (x) => x * x);
  };
  let final = embedding, fromImatrix = 0;
  for (let l = 0; l < nLayers; l++) {
    const p = `blk.${l}.`;
    for (const k of ["attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]) if (!names.has(`${p}${k}.weight`)) return null; // not a dense block
    const ga2 = norm2(`${p}attn_norm.weight`), gf2 = norm2(`${p}ffn_norm.weight`);
    residualAt.set(`${p}attn`, final);
    const o = src.tensor(`${p}attn_output.weight`), d = src.tensor(`${p}ffn_down.weight`);
    let oIn: ArrayLike<number> | null = im(`${p}attn_output.weight`, o.cols);
    let dIn: ArrayLike<number> | null = im(`${p}ffn_down.weight`, d.cols);
    if (oIn && dIn) fromImatrix++;
    if (!oIn) {
      if (!(nHead > 0 && nHeadKv > 0 && o.cols % nHead === 0)) return null;
      const vE = energies(src, `${p}attn_v.weight`, ga2).row!; // E[v_c²] per value channel
      const headDim = o.cols / nHead, group = nHead / nHeadKv;
      oIn = Float64Array.from({ length: o.cols }, (_, j) => vE[Math.floor(Math.floor(j / headDim) / group) * headDim + (j % headDim)] ?? 0);
    }
    if (!dIn) {
      const gE = energies(src, `${p}ffn_gate.weight`, gf2).row!, uE = energies(src, `${p}ffn_up.weight`, gf2).row!;
      dIn = Float64Array.from(gE, (s2, j) => siluSquareMean(s2) * uE[j]!);
    }
    const attnWrite = dot(energies(src, `${p}attn_output.weight`).col, oIn);
    output.set(`${p}attn_output.weight`, attnWrite);
    residualAt.set(`${p}ffn`, final + attnWrite);
    const ffnWrite = dot(energies(src, `${p}ffn_down.weight`).col, dIn);
    output.set(`${p}ffn_down.weight`, ffnWrite);
    final += attnWrite + ffnWrite;
  }
  const headName = names.has("output.weight") ? "output.weight" : "token_embd.weight"; // tied embeddings: token_embd is the head
  const head = headName === "token_embd.weight" ? emb : energies(src, headName);
  const logitVariance = dot(head.col, norm2("output_norm.weight")) / src.tensor(headName).rows;
  if (![final, embedding, logitVariance].every((x) => Number.isFinite(x) && x > 0)) return null;
  return { output, residualAt, embedding, final, fromImatrix, nLayers, logitVariance };
}

/**
 * ρ²/r²: the share of the final residual energy a tensor's relative output
 * error reaches (its branch's write energy over E‖h_L‖²), or null for tensors
 * outside this picture (output head, experts, unknown kinds).
 */
export function reachOf(e: ResidualEnergies, kind: string, layer: number | null): number | null {
  if (kind === "token_embd") return e.embedding / e.final;
  if (layer === null) return null;
  const branch = /^attn_(q|k|v|output)$/.test(kind) ? "attn_output" : /^ffn_(gate|up|down)$/.test(kind) ? "ffn_down" : null;
  if (!branch) return null;
  const w = e.output.get(`blk.${layer}.${branch}.weight`);
  return w === undefined ? null : w / e.final;
}

/**
 * The model-level scale of the fallback prediction: σ_z² times the mean reach of the block matrices
 * (each block's 4 attention matrices reach with its attention write, its 3 FFN matrices with its FFN
 * write), i.e. how strongly a typical relative error in this model's matrices moves its logits.
 */
export function modelScale(e: ResidualEnergies): number {
  let s = 0, n = 0;
  for (let l = 0; l < e.nLayers; l++) {
    const a = e.output.get(`blk.${l}.attn_output.weight`), f = e.output.get(`blk.${l}.ffn_down.weight`);
    if (a === undefined || f === undefined) continue;
    s += 4 * a + 3 * f;
    n += 7;
  }
  return n ? (e.logitVariance * s) / (n * e.final) : NaN;
}
