// Per-position KL of a whole type assignment (the same computation as
// measureAssignmentKl, whose value is the mean of these), and a block
// bootstrap of a ratio of two such means: how much a plan/mix ratio measured
// on one token window moves with the tokens.
import type { Imatrix, TensorSource } from "../../src/io/source.js";
import type { KlHarness } from "../../src/model/forward/kl.js";
import { embed, headLogits, runLayer } from "../../src/model/forward/run.js";
import { logSoftmax } from "../../src/model/forward/ops.js";
import { roundTrip } from "../../src/analysis/sweep/sweep.js";
import { layerOf } from "../../src/analysis/plan/mixes.js";

export function perPositionKl(src: TensorSource, hx: KlHarness, assignment: ReadonlyMap<string, string>, imatrix?: Imatrix): Float64Array {
  const overrides = new Map<string, Float32Array>();
  for (const [name, type] of assignment) {
    const t = type.toUpperCase();
    if (t === "F32") continue;
    const W = src.read(name);
    if (W.rows * W.cols <= W.cols) continue;
    const v = imatrix?.entries.get(name)?.values;
    overrides.set(name, roundTrip(t, W.data, W.rows, W.cols, v && v.length === W.cols ? v : undefined));
  }
  const { model, tokens, chunk } = hx;
  const T = tokens.length, V = model.config.vocab, nLayer = model.config.nLayer;
  let from = nLayer;
  for (const name of overrides.keys()) from = Math.min(from, layerOf(name) ?? (name === "token_embd.weight" ? 0 : nLayer));
  const opts = { overrides };
  const h = from === 0 && overrides.has("token_embd.weight") ? embed(model, tokens, opts) : hx.residual[from]!.slice();
  for (let l = from; l < nLayer; l++) runLayer(model, h, T, chunk, l, opts);
  const lq = logSoftmax(headLogits(model, h, T, opts), T, V);
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let kl = 0;
    for (let i = 0; i < V; i++) { const lp = hx.refLogProbs[t * V + i]!; kl += Math.exp(lp) * (lp - lq[t * V + i]!); }
    out[t] = kl;
  }
  return out;
}

export const mean = (a: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]!; return s / a.length; };

/**
 * 95 % interval of mean(a)/mean(b) by a block bootstrap over positions
 * (blocks of `block` consecutive positions resampled with replacement, the
 * same blocks for a and b; 2000 resamples, fixed seed).
 */
export function ratioInterval(a: Float64Array, b: Float64Array, block = 32, B = 2000, seed = 1): [number, number] {
  const nb = Math.floor(a.length / block);
  const sa = new Float64Array(nb), sb = new Float64Array(nb);
  for (let j = 0; j < nb; j++) for (let i = j * block; i < (j + 1) * block; i++) { sa[j] += a[i]!; sb[j] += b[i]!; }
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const r: number[] = [];
  for (let k = 0; k < B; k++) {
    let x = 0, y = 0;
    for (let j = 0; j < nb; j++) { const p = Math.floor(rnd() * nb); x += sa[p]!; y += sb[p]!; }
    r.push(x / y);
  }
  r.sort((p, q) => p - q);
  return [r[Math.floor(0.025 * B)]!, r[Math.ceil(0.975 * B) - 1]!];
}
