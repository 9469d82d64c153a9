// Calibration statistics (docs/sensitivity.md): per chunk, one forward pass
// and `samples` backward passes, each from labels drawn from the model's own
// next-token distribution (ŷ_t ~ p_t, loss −Σ_t log p_t(ŷ_t), so the logit
// gradient p_t − e_ŷ has covariance diag(p_t) − p_t p_tᵀ, the softmax Fisher
// = the Hessian of KL(p‖q) at q = p). Per weight matrix it accumulates
//   in_sum2[j]   = Σ_t x_tj²            (llama-imatrix's statistic)
//   out_grad2[o] = Σ_t E[g_to²]         (g = ∂L/∂y, mean over the samples)
// and for token_embd, whose input is a one-hot row selection,
//   row_grad2[v] = Σ_{t: id_t = v} E[‖g_t‖²],  col_grad2[j] = Σ_t E[g_tj²]
// with g_t the gradient at the residual stream's input. An expert tensor
// (3-D ffn_*_exps) gets these per expert, concatenated (nExpert × cols,
// nExpert × rows), over the (token, slot) rows routed to each expert, and the
// number of such rows per expert (llama-imatrix's counts). Chunks are computed
// independently (seeded by their index) and added in chunk order, so the
// result does not depend on the number of threads.
import type { ForwardModel } from "../forward/model.js";
import { chunkInput, type Chunking } from "../measure/chunks.js";
import { Arena, kernels } from "../../quant/wasm.js";
import { backward, forwardCached, headName } from "./backward.js";
import { addSquaresWasm, arenaArray, fisherMarginalsWasm } from "./kernels.js";

export interface CalibChunk {
  /** Weight name -> Σ x² per column (f64). */
  readonly inSum2: Record<string, Float64Array>;
  /** Weight name -> Σ E[g²] per output row (f64). */
  readonly outGrad2: Record<string, Float64Array>;
  readonly embRowGrad2: Float64Array;
  readonly embColGrad2: Float64Array;
  /** Weight name -> row / column sums of the squared whole-sequence weight gradient (dW_oj = Σ_t g_to x_tj)², mean over the samples. */
  readonly fisherRows: Record<string, Float64Array>;
  readonly fisherCols: Record<string, Float64Array>;
  /** Expert tensors: rows routed to each expert. */
  readonly expertCounts: Record<string, Float64Array>;
  readonly tokens: number;
  readonly nll: number;
  readonly scored: number;
}

export interface CalibrateOptions {
  /** Backward passes per chunk, each with fresh sampled labels (default 1). */
  readonly samples?: number;
  /** Seed of the label sampler (default 1). */
  readonly seed?: number;
}

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Key of the embedding lookup's statistics (token_embd.weight may also be the tied head). */
export const EMBED = "token_embd.weight#lookup";

type FisherKernel = (g: number, x: number, T: number, rows: number, cols: number, R: number, C: number, scale: number, scratch: number) => void;
let fisherKernel: FisherKernel | undefined;

/**
 * Adds scale·Σ_j dW_oj² to r[o] and scale·Σ_o dW_oj² to c[j] for the whole-sequence weight gradient
 * dW = gᵀx (g: n × rows, x: n × cols), in one WASM kernel (assembly/calib_backward.ts) that never
 * materialises dW.
 */
export function addFisherMarginals(g: Float32Array, x: Float32Array, n: number, rows: number, cols: number, r: Float64Array, c: Float64Array, scale: number): void {
  if (fisherMarginalsWasm(g, x, n, rows, cols, r, c, scale)) return; // the cache-blocked relaxed-SIMD twin
  fisherKernel ??= kernels()["fisher_marginals_f32"] as FisherKernel;
  const arena = new Arena();
  const pg = arena.alloc(n * rows * 4), px = arena.alloc(n * cols * 4), pr = arena.alloc(rows * 8), pc = arena.alloc(cols * 8);
  const ps = arena.alloc(n * (rows + 8) * 4);
  arena.f32(pg, n * rows).set(g.subarray(0, n * rows));
  arena.f32(px, n * cols).set(x.subarray(0, n * cols));
  const mem = kernels().memory.buffer;
  new Float64Array(mem, pr, rows).set(r);
  new Float64Array(mem, pc, cols).set(c);
  fisherKernel(pg, px, n, rows, cols, pr, pc, scale, ps);
  r.set(new Float64Array(kernels().memory.buffer, pr, rows));
  c.set(new Float64Array(kernels().memory.buffer, pc, cols));
}

// the T × V probabilities, reused from chunk to chunk (fresh MB-sized arrays cost page faults)
let probs = new Float64Array(0);

/** ∂L/∂logits = p_t − e_ŷ for labels ŷ_t drawn from p_t (T × V), in an array the next call reuses (in the kernels' arena). */
function sampledLogitGrad(p: Float64Array, T: number, V: number, random: () => number): Float32Array {
  const d = arenaArray("dlogits", T * V);
  for (let t = 0; t < T; t++) {
    const o = t * V;
    let u = random(), y = V - 1;
    for (let i = 0; i < V; i++) { u -= p[o + i]!; if (u < 0) { y = i; break; } }
    for (let i = 0; i < V; i++) d[o + i] = p[o + i]!;
    d[o + y] -= 1;
  }
  return d;
}

/** Softmax probabilities of each row of logits (T × V), f64, in an array the next call reuses. */
function softmax(logits: Float32Array, T: number, V: number): Float64Array {
  if (probs.length < T * V) probs = new Float64Array(T * V);
  const p = probs.subarray(0, T * V);
  for (let t = 0; t < T; t++) {
    const o = t * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    let s = 0;
    for (let i = 0; i < V; i++) { const e = Math.exp(logits[o + i]! - max); p[o + i] = e; s += e; }
    for (let i = 0; i < V; i++) p[o + i] = p[o + i]! / s;
  }
  return p;
}

/** acc[at + j] += scale·x_tj² over the T rows of data (T × n): the WASM kernel (the same f64 operations), else JS. */
function addSquares(acc: Float64Array, data: Float32Array, T: number, n: number, scale = 1, at = 0): void {
  if (addSquaresWasm(acc, data, T, n, scale, at)) return;
  for (let t = 0; t < T; t++) {
    const o = t * n;
    for (let j = 0; j < n; j++) { const x = data[o + j]!; acc[at + j] += scale * x * x; }
  }
}

/**
 * Zeroed f64 arrays carved out of 512 KiB blocks: one chunk's ~170 statistic arrays (a few KiB each)
 * cost one allocation per block instead of one each (each took tens of µs here).
 */
function f64Blocks(): (n: number) => Float64Array {
  let block = new Float64Array(0), at = 0;
  return (n) => {
    if (at + n > block.length) { block = new Float64Array(Math.max(n, 65536)); at = 0; }
    at += n;
    return block.subarray(at - n, at);
  };
}

const squareBufs = new Map<number, Float64Array>();
/** A zeroed f64 array of n for one input's Σx² (reused: its sums are added to in_sum2 before the next input's). */
function squares(n: number): Float64Array {
  let b = squareBufs.get(n);
  if (!b) squareBufs.set(n, (b = new Float64Array(n)));
  return b.fill(0);
}

/** Expert e's n entries of a per-expert statistic (the array itself for a dense matrix). */
function part(a: Float64Array, e: number, n: number): Float64Array {
  return a.length === n ? a : a.subarray(e * n, (e + 1) * n);
}

/** acc[at + j] += v[j] (a loop of its own: inside the hook closure it ran slowly). */
function addInto(acc: Float64Array, at: number, v: Float64Array): void {
  for (let j = 0; j < v.length; j++) acc[at + j] += v[j]!;
}

let embRows = new Float64Array(0); // the per-token sums of one chunk (distinct tokens × E), reused from chunk to chunk

/** token_embd's statistics from the gradient at the residual stream's input: its rows are looked up, dE_v = Σ_{t: id_t = v} g_t. */
function addEmbeddingStats(dEmbed: Float32Array, input: Int32Array, E: number, samples: number, rowGrad2: Float64Array, colGrad2: Float64Array, er: Float64Array, ec: Float64Array): void {
  // distinct tokens get slots in order of first appearance (the order their squares are added in)
  const slotOf = new Map<number, number>(), tokens: number[] = [];
  const slots = new Int32Array(input.length);
  for (let t = 0; t < input.length; t++) {
    let s = slotOf.get(input[t]!);
    if (s === undefined) { s = tokens.length; slotOf.set(input[t]!, s); tokens.push(input[t]!); }
    slots[t] = s;
  }
  if (embRows.length < tokens.length * E) embRows = new Float64Array(input.length * E);
  const dE = embRows.subarray(0, tokens.length * E).fill(0);
  for (let t = 0; t < input.length; t++) rowGrad2[input[t]!] += embeddingRow(dEmbed, t * E, dE, slots[t]! * E, E, colGrad2, samples) / samples;
  for (let s = 0; s < tokens.length; s++) embeddingSquares(dE, s * E, E, samples, er, tokens[s]!, ec);
}

/** Adds row t of g (at gt) into dE (at r) and (g²)/samples into colGrad2; returns Σ g² (typed loops of their own: they run optimized). */
function embeddingRow(g: Float32Array, gt: number, dE: Float64Array, r: number, E: number, colGrad2: Float64Array, samples: number): number {
  let s = 0;
  for (let j = 0; j < E; j++) { const v = g[gt + j]!; s += v * v; dE[r + j] += v; colGrad2[j] += (v * v) / samples; }
  return s;
}

function embeddingSquares(dE: Float64Array, r: number, E: number, samples: number, er: Float64Array, v: number, ec: Float64Array): void {
  for (let j = 0; j < E; j++) { const q = (dE[r + j]! * dE[r + j]!) / samples; er[v] += q; ec[j] += q; }
}

/** The statistics of one token sequence (positions 0..T−1). */
export function calibrateSequence(model: ForwardModel, input: Int32Array, seed: number, opts: CalibrateOptions = {}, next?: Int32Array): CalibChunk {
  const c = model.config;
  const T = input.length, V = c.vocab, E = c.nEmbd;
  const samples = opts.samples ?? 1;
  const cache = forwardCached(model, input);
  const p = softmax(cache.logits, T, V);
  let nll = 0, scored = 0;
  if (next) {
    // llama-imatrix's running perplexity: second half of the chunk
    for (let t = T >> 1; t < T - 1; t++) { nll -= Math.log(p[t * V + next[t + 1]!]!); scored++; }
  }
  const inSum2: Record<string, Float64Array> = {}, outGrad2: Record<string, Float64Array> = {};
  const fisherRows: Record<string, Float64Array> = {}, fisherCols: Record<string, Float64Array> = {};
  const expertCounts: Record<string, Float64Array> = {};
  const embRowGrad2 = new Float64Array(V), embColGrad2 = new Float64Array(E);
  const random = rng(seed);
  const f64 = f64Blocks();
  for (let k = 0; k < samples; k++) {
    const d = sampledLogitGrad(p, T, V, random);
    // q/k/v and gate/up are hooked one after the other with the same input x: its Σx² is computed
    // once (from zero, as each matrix's sums start from zero, so the same f64 values) and added to
    // each, and the Fisher kernel packs it once
    let lastX: Float32Array | undefined, lastSq: Float64Array = new Float64Array(0);
    const { dEmbed } = backward(model, cache, d, (name, x, cols, g, rows, ex) => {
      const n = x.length / cols, nm = ex?.count ?? 1, e = ex?.index ?? 0;
      const sameX = x === lastX; // the previous matrix read this input (the forward cache: unchanged)
      const newX = k === 0 && (!sameX || lastSq.length !== cols);
      if (newX) lastSq = squares(cols);
      lastX = x;
      const og = part((outGrad2[name] ??= f64(nm * rows)), e, rows);
      const fr = part((fisherRows[name] ??= f64(nm * rows)), e, rows);
      const fc = part((fisherCols[name] ??= f64(nm * cols)), e, cols);
      // Σ g² and (for a new input) Σ x² in the Fisher kernel's pass over g and x where it runs
      if (!fisherMarginalsWasm(g, x, n, rows, cols, fr, fc, 1 / samples, og, 1 / samples, newX ? lastSq : undefined, sameX)) {
        if (newX) addSquares(lastSq, x, n, cols);
        addSquares(og, g, n, rows, 1 / samples);
        addFisherMarginals(g, x, n, rows, cols, fr, fc, 1 / samples);
      }
      if (k === 0) {
        addInto((inSum2[name] ??= f64(nm * cols)), e * cols, lastSq);
        if (ex) (expertCounts[name] ??= f64(nm))[e] += n;
      }
    });
    addEmbeddingStats(dEmbed, input, E, samples, embRowGrad2, embColGrad2, (fisherRows[EMBED] ??= new Float64Array(V)), (fisherCols[EMBED] ??= new Float64Array(E)));
  }
  return { inSum2, outGrad2, embRowGrad2, embColGrad2, fisherRows, fisherCols, expertCounts, tokens: T, nll, scored };
}

/** Chunk i of a token stream (BOS first when given), seeded by (seed, i). */
export function calibrateChunk(model: ForwardModel, tokens: Int32Array, c: Chunking, i: number, bos: number | undefined, opts: CalibrateOptions = {}): CalibChunk {
  const input = chunkInput(tokens, c, i, bos);
  const seed = (Math.imul((opts.seed ?? 1) >>> 0, 0x9e3779b1) + i * 0x85ebca6b) >>> 0;
  return calibrateSequence(model, input, seed, opts, tokens.subarray(i * c.nCtx, (i + 1) * c.nCtx));
}

/** Calibration statistics of a model (sums over all tokens). */
export interface CalibStats {
  readonly inSum2: Map<string, Float32Array>;
  readonly outGrad2: Map<string, Float32Array>;
  readonly embRowGrad2: Float32Array;
  readonly embColGrad2: Float32Array;
  /** Row / column sums of Σ_chunks dW² (whole-chunk weight gradients); key EMBED for the embedding lookup. */
  readonly fisherRows: Map<string, Float32Array>;
  readonly fisherCols: Map<string, Float32Array>;
  /** Expert tensors (3-D): rows routed to each expert, summed over chunks (llama-imatrix's counts); absent for dense matrices. */
  readonly expertCounts: Map<string, Float64Array>;
  /** Tokens accumulated. */
  readonly tokens: number;
  readonly chunks: number;
  readonly chunkSize: number;
  readonly samples: number;
  /** Name of the output head (token_embd.weight when the embeddings are tied). */
  readonly head: string;
  /** Running perplexity as llama-imatrix prints it (NaN when unknown). */
  readonly ppl: number;
}

export class CalibAccumulator {
  private inSum2 = new Map<string, Float64Array>();
  private outGrad2 = new Map<string, Float64Array>();
  private fisherRows = new Map<string, Float64Array>();
  private fisherCols = new Map<string, Float64Array>();
  private expertCounts = new Map<string, Float64Array>();
  private embRow: Float64Array | null = null;
  private embCol: Float64Array | null = null;
  private tokens = 0;
  private nll = 0;
  private scored = 0;
  private chunks = 0;
  add(ch: CalibChunk): void {
    const addTo = (m: Map<string, Float64Array>, rec: Record<string, Float64Array>) => {
      for (const [k, v] of Object.entries(rec)) {
        const a = m.get(k);
        if (!a) m.set(k, Float64Array.from(v));
        else for (let i = 0; i < v.length; i++) a[i] += v[i]!;
      }
    };
    addTo(this.inSum2, ch.inSum2);
    addTo(this.outGrad2, ch.outGrad2);
    addTo(this.fisherRows, ch.fisherRows);
    addTo(this.fisherCols, ch.fisherCols);
    addTo(this.expertCounts, ch.expertCounts);
    if (!this.embRow) { this.embRow = Float64Array.from(ch.embRowGrad2); this.embCol = Float64Array.from(ch.embColGrad2); }
    else {
      for (let i = 0; i < ch.embRowGrad2.length; i++) this.embRow[i] += ch.embRowGrad2[i]!;
      for (let i = 0; i < ch.embColGrad2.length; i++) this.embCol![i] += ch.embColGrad2[i]!;
    }
    this.tokens += ch.tokens;
    this.nll += ch.nll;
    this.scored += ch.scored;
    this.chunks++;
  }
  runningPpl(): number {
    return this.scored > 0 ? Math.exp(this.nll / this.scored) : NaN;
  }
  result(chunkSize: number, samples: number, head: string): CalibStats {
    const f32 = (m: Map<string, Float64Array>) => new Map([...m].map(([k, v]) => [k, Float32Array.from(v)] as [string, Float32Array]));
    return {
      inSum2: f32(this.inSum2), outGrad2: f32(this.outGrad2), fisherRows: f32(this.fisherRows), fisherCols: f32(this.fisherCols),
      expertCounts: new Map([...this.expertCounts].map(([k, v]) => [k, v.slice()] as [string, Float64Array])),
      embRowGrad2: Float32Array.from(this.embRow ?? []), embColGrad2: Float32Array.from(this.embCol ?? []),
      tokens: this.tokens, chunks: this.chunks, chunkSize, samples, head, ppl: this.runningPpl(),
    };
  }
}

/** Single-thread collection. */
export function collectCalibration(model: ForwardModel, tokens: Int32Array, c: Chunking, bos: number | undefined, opts: CalibrateOptions = {}, onChunk?: (done: number, total: number) => void): CalibStats {
  const acc = new CalibAccumulator();
  for (let i = 0; i < c.count; i++) {
    acc.add(calibrateChunk(model, tokens, c, i, bos, opts));
    onChunk?.(i + 1, c.count);
  }
  return acc.result(c.nCtx, opts.samples ?? 1, headName(model));
}
