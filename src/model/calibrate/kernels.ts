// Host of calibrate's kernels in the relaxed-SIMD module (assembly/calib_relaxed.ts, built into
// build/forward-relaxed.wasm): its own instance, so the forward pass's use of that module
// (src/model/forward/matmul-wasm.ts) and this one never share scratch memory. null where the
// engine lacks relaxed SIMD or QUANTSCOPE_NO_FMA=1; callers then use the plain-SIMD kernels.
//
// The instance's memory: [base, arena end) the arena, where calibrate's per-chunk arrays live
// (the forward cache, the backward pass's temporaries: arenaArray), so that kernels read and
// write them in place instead of copying every operand in and every result out; after it, the
// per-call scratch of each kernel (Scratch). Memory grows between chunks (beginChunk, which also
// reserves the scratch the kernels will need): a grow detaches every JS view of the old memory.
import { relaxedModule } from "../forward/relaxed-module.js";

export interface CalibKernels {
  readonly memory: WebAssembly.Memory;
  readonly base: number;
  readonly attentionBack: (q: number, k: number, v: number, dout: number, dq: number, dk: number, dv: number, T: number, nHead: number, nKv: number, d: number, scale: number, P: number, dS: number, kept: number) => void;
  /** attention, also keeping the softmax probabilities for attentionBack (calib_relaxed.ts attention_keep). */
  readonly attentionKeep: (q: number, k: number, v: number, out: number, T: number, nHead: number, nKv: number, d: number, scale: number, scores: number, P: number) => void;
  readonly swigluKeep: (g: number, u: number, a: number, sg: number, n: number) => void;
  readonly swigluBack: (da: number, z: number, u: number, sg: number, dgt: number, dup: number, n: number) => void;
  readonly rmsNormBack: (x: number, dy: number, g: number, res: number, dx: number, rows: number, n: number, eps: number) => void;
  readonly addSquares: (acc: number, data: number, T: number, n: number, scale: number) => void;
  readonly ropeFwd: (x: number, T: number, nHead: number, headDim: number, ropeDim: number, cos: number, sin: number, neox: number) => void;
  readonly ropeBack: (x: number, T: number, nHead: number, headDim: number, ropeDim: number, cos: number, sin: number, neox: number) => void;
  readonly fisher: (g: number, x: number, T: number, rows: number, cols: number, R: number, C: number, scale: number, scratch: number, G2: number, gScale: number, X2: number, xp: number, packX: number) => void;
  readonly matmulBack: (dy: number, T: number, rows: number, W: number, cols: number, dx: number, scratch: number, accumulate: number) => void;
  readonly rmsNorm: (x: number, g: number, out: number, rows: number, n: number, eps: number) => void;
  readonly add: (a: number, b: number, out: number, n: number) => void;
  /** The forward pass's kernels (assembly/forward_relaxed.ts, forward_ops.ts): the same code, so the same bits. */
  readonly matmul: (x: number, T: number, n: number, W: number, m: number, y: number, o0: number, o1: number) => void;
  readonly attention: (q: number, k: number, v: number, out: number, T: number, nHead: number, nKv: number, d: number, scale: number, scores: number, t0: number) => void;
  readonly roundF16: (p: number, n: number) => void;
}

let mod: CalibKernels | null | undefined;

export function calibKernels(): CalibKernels | null {
  if (mod !== undefined) return mod;
  mod = null;
  const m = relaxedModule();
  if (!m) return null;
  const ex = new WebAssembly.Instance(m, {}).exports as Record<string, unknown> & { memory: WebAssembly.Memory; heap_base: () => number };
  if (typeof ex["attention_back_fma"] !== "function") return null; // a module built before these kernels
  mod = {
    memory: ex.memory,
    base: (ex.heap_base() + 15) & ~15,
    attentionBack: ex["attention_back_fma"] as CalibKernels["attentionBack"],
    attentionKeep: ex["attention_keep"] as CalibKernels["attentionKeep"],
    swigluKeep: ex["swiglu_keep"] as CalibKernels["swigluKeep"],
    swigluBack: ex["swiglu_back"] as CalibKernels["swigluBack"],
    rmsNormBack: ex["rms_norm_back"] as CalibKernels["rmsNormBack"],
    addSquares: ex["add_squares"] as CalibKernels["addSquares"],
    ropeBack: ex["rope_back"] as CalibKernels["ropeBack"],
    ropeFwd: ex["rope_fwd"] as CalibKernels["ropeFwd"],
    fisher: ex["fisher_marginals_fma"] as CalibKernels["fisher"],
    matmulBack: ex["matmul_back_fma"] as CalibKernels["matmulBack"],
    rmsNorm: ex["rms_norm"] as CalibKernels["rmsNorm"],
    add: ex["add_f32"] as CalibKernels["add"],
    matmul: ex["matmul_fma"] as CalibKernels["matmul"],
    attention: ex["attention_fma"] as CalibKernels["attention"],
    roundF16: ex["round_f16"] as CalibKernels["roundF16"],
  };
  return mod;
}

const align = (b: number) => (b + 15) & ~15;

// The arena: [arenaStart, arenaEnd) of the instance's memory, handed out in order (arenaTop) to the
// use sites of arenaArray, whose views are kept from chunk to chunk (the same layout each chunk)
// until a grow makes new ones. Sites that do not fit get JS arrays (the kernels then copy them in
// and out as before); beginChunk makes room for them before the next chunk.
let arenaStart = 0, arenaTop = 0, arenaEnd = 0, reserve = 0;
let arenaBuffer: ArrayBuffer | undefined; // the memory buffer the pool's views were made on
const pool = new Map<string, Float32Array>();
const siteMax = new Map<string, number>(); // the largest array each site asked for, kept across layouts so that the next one fits
let siteMaxBytes = 0; // their sum
/** Bytes the sites of the pool take (in the arena or not), and bytes of the arena given up by sites that outgrew their array. */
let poolBytes = 0, wasted = 0, outside = 0;
// Memory beyond which the arena stops growing (sites then get JS arrays): a wasm32 memory ends at 4 GiB.
const MAX_MEMORY = 3 * 2 ** 30;
let arenaLimit = Infinity, relayout = false;

/** Caps the arena at `bytes` from the next chunk on (tests: 0 puts every array in JS, as without the arena); Infinity lifts the cap. */
export function limitArena(bytes: number): void {
  arenaLimit = bytes;
  relayout = true;
}

/** False when the memory grew since the arena's views were made (per-call scratch past beginChunk's reserve): views a pass still holds are then detached. */
export function arenaIntact(): boolean {
  const k = calibKernels();
  return !k || arenaBuffer === undefined || k.memory.buffer === arenaBuffer;
}

/** Where the arrays of the last chunk lived: bytes in the arena and outside it (JS arrays). */
export function arenaUse(): { inside: number; outside: number } {
  return { inside: arenaTop - arenaStart, outside };
}

/**
 * Before a chunk's first arenaArray: makes the arena at least `estimate` bytes (or what the last
 * chunk asked for), with `scratch` bytes of per-call scratch after it, growing the memory now (later
 * grows would detach the chunk's views). The arrays of the previous chunk are dead from here on.
 */
export function beginChunk(estimate: number, scratch: number): void {
  const k = calibKernels();
  if (!k) return;
  packed = undefined;
  // the arena this chunk should have: what it needs, within the cap and the memory's limit
  const want = Math.max(0, Math.min(align(Math.max(estimate, poolBytes)), arenaLimit, MAX_MEMORY - scratch - k.base)) & ~15;
  const room = Math.max(0, Math.min(align(Math.max(estimate, siteMaxBytes)), arenaLimit, MAX_MEMORY - scratch - k.base)) & ~15; // a new layout: room for every site seen
  const keep = !relayout && wasted === 0 && reserve >= scratch && arenaEnd - arenaStart >= want && k.memory.buffer === arenaBuffer && k.memory.buffer.byteLength >= arenaEnd + scratch;
  if (keep) return; // the same views as the last chunk (sites that did not fit keep their JS arrays)
  // a new layout: every site gets a fresh view (the old ones may be detached by the grow)
  pool.clear();
  poolBytes = wasted = outside = 0;
  relayout = false;
  arenaStart = arenaTop = k.base;
  let size = room;
  const need = arenaStart + size + scratch, have = k.memory.buffer.byteLength;
  if (need > have) {
    try { k.memory.grow(Math.ceil((need - have) / 65536)); } catch { size = Math.max(0, have - scratch - arenaStart) & ~15; }
  }
  arenaEnd = arenaStart + size;
  reserve = scratch;
  arenaBuffer = k.memory.buffer;
}

/**
 * A scratch array of n floats for one use site of calibrate's passes (its contents are dead by the
 * site's next use, and by the next chunk), in the arena where it fits (kernels then work on it in
 * place), else a JS array; `cap` ≥ n reserves room for later uses of up to cap floats.
 */
export function arenaArray(site: string, n: number, cap = n): Float32Array {
  let b = pool.get(site);
  if (!b || b.length < n) {
    const k = calibKernels();
    const had = siteMax.get(site) ?? 0;
    cap = Math.max(cap, n, had);
    if (cap > had) { siteMax.set(site, cap); siteMaxBytes += align(4 * cap) - align(4 * had); }
    const bytes = align(4 * cap);
    if (b) { poolBytes -= align(4 * b.length); if (k && b.buffer === k.memory.buffer) wasted += align(4 * b.length); }
    poolBytes += bytes;
    if (k && k.memory.buffer === arenaBuffer && arenaTop + bytes <= arenaEnd) {
      b = new Float32Array(k.memory.buffer, arenaTop, cap);
      arenaTop += bytes;
    } else {
      b = new Float32Array(cap);
      outside += bytes;
    }
    pool.set(site, b);
  }
  return b.subarray(0, n); // a fresh view each time, as a fresh array would be (callers compare arrays by identity)
}

/** A bump allocator over the calibrate instance's memory after the arena, from its start on each new Scratch. */
export class Scratch {
  private top: number;
  constructor(private readonly k: CalibKernels) {
    this.top = Math.max(k.base, arenaEnd);
  }
  /** n f32 (or 4n bytes), 16-byte aligned; grows memory (take views only after the last alloc). */
  alloc(n: number): number {
    const p = this.top;
    this.top += (n * 4 + 15) & ~15;
    const have = this.k.memory.buffer.byteLength;
    // past beginChunk's reserve: a grow detaches the arena's views (the passes check arenaIntact; the next chunk lays it out again)
    if (this.top > have) this.k.memory.grow(Math.ceil((this.top - have) / 65536));
    return p;
  }
  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, p, n);
  }
  f64(p: number, n: number): Float64Array {
    return new Float64Array(this.k.memory.buffer, p, n);
  }
  /** Offset of a's first n values in kernel memory: a itself when it is a view of it (the arena), else a copy in scratch. */
  in(a: Float32Array, n: number): number {
    if (a.buffer === this.k.memory.buffer) return a.byteOffset;
    if (a.length < n) throw new Error(`internal error: kernel operand of ${a.length} values, ${n} needed (a detached view?)`);
    const p = this.alloc(n);
    this.f32(p, n).set(a.length === n ? a : a.subarray(0, n));
    return p;
  }
  /** Offset to write a's first n values at: a itself when it is a view of kernel memory, else scratch (then `out` copies it back). */
  outAt(a: Float32Array, n: number): number {
    if (a.buffer === this.k.memory.buffer) return a.byteOffset;
    if (a.length < n) throw new Error(`internal error: kernel result of ${a.length} values, ${n} needed (a detached view?)`);
    return this.alloc(n);
  }
  /** Copies the result at p back into a unless it was written in place. */
  out(a: Float32Array, p: number, n: number): void {
    if (a.buffer !== this.k.memory.buffer) a.set(this.f32(p, n));
  }
}

/** a = silu(gate)·up (the forward pass's SwiGLU bits) and sg = sigmoid(gate), in WASM; false where the module is unavailable. */
export function swigluKeepWasm(gate: Float32Array, up: Float32Array, a: Float32Array, sg: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const n = gate.length, s = new Scratch(k);
  const pg = s.in(gate, n), pu = s.in(up, n), pa = s.outAt(a, n), ps = s.outAt(sg, n);
  k.swigluKeep(pg, pu, pa, ps, n);
  s.out(a, pa, n); s.out(sg, ps, n);
  return true;
}

/** SwiGLU backward into dgt, dup, in WASM; false where the module is unavailable. */
export function swigluBackWasm(da: Float32Array, gt: Float32Array, up: Float32Array, sg: Float32Array, dgt: Float32Array, dup: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const n = da.length, s = new Scratch(k);
  const pd = s.in(da, n), pz = s.in(gt, n), pu = s.in(up, n), ps = s.in(sg, n), pg = s.outAt(dgt, n), pp = s.outAt(dup, n);
  k.swigluBack(pd, pz, pu, ps, pg, pp, n);
  s.out(dgt, pg, n); s.out(dup, pp, n);
  return true;
}

/** RMSNorm backward (rows of n, n % 4 == 0) into dx, plus res when given, in WASM; false where unavailable or n % 4 != 0. */
export function rmsNormBackWasm(x: Float32Array, n: number, g: Float32Array | null, eps: number, dy: Float32Array, dx: Float32Array, res?: Float32Array): boolean {
  const k = n % 4 === 0 ? calibKernels() : null;
  if (!k) return false;
  const len = x.length, s = new Scratch(k);
  const px = s.in(x, len), pd = s.in(dy, len), pg = g ? s.in(g, n) : 0, pr = res ? s.in(res, len) : 0, po = s.outAt(dx, len);
  k.rmsNormBack(px, pd, pg, pr, po, len / n, n, eps);
  s.out(dx, po, len);
  return true;
}

/** acc[at + j] += scale·x_tj² over the T rows of data (T × n), in WASM (the JS loop's f64 operations); false where unavailable. */
export function addSquaresWasm(acc: Float64Array, data: Float32Array, T: number, n: number, scale: number, at: number): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k);
  const pd = s.in(data, T * n), pa = s.alloc(2 * n);
  const a = acc.subarray(at, at + n);
  s.f64(pa, n).set(a);
  k.addSquares(pa, pd, T, n, scale);
  a.set(s.f64(pa, n));
  return true;
}

/** Inverse RoPE rotation of x in place (backward.ts ropeBack) with the given f64 angle tables, in WASM; false where unavailable. */
export function ropeBackWasm(x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, cos: Float64Array, sin: Float64Array, neox: boolean): boolean {
  return ropeWasm(false, x, T, nHead, headDim, ropeDim, cos, sin, neox);
}

/** The forward RoPE rotation in place (ops.rope's bits given its angle tables), in WASM; false where unavailable. */
export function ropeFwdWasm(x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, cos: Float64Array, sin: Float64Array, neox: boolean): boolean {
  return ropeWasm(true, x, T, nHead, headDim, ropeDim, cos, sin, neox);
}

function ropeWasm(fwd: boolean, x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, cos: Float64Array, sin: Float64Array, neox: boolean): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k), n = T * nHead * headDim, nt = T * (ropeDim / 2);
  const px = s.in(x, n), pc = s.alloc(2 * nt), ps = s.alloc(2 * nt);
  s.f64(pc, nt).set(cos.subarray(0, nt)); s.f64(ps, nt).set(sin.subarray(0, nt));
  (fwd ? k.ropeFwd : k.ropeBack)(px, T, nHead, headDim, ropeDim, pc, ps, neox ? 1 : 0);
  s.out(x, px, n);
  return true;
}

// The input whose panels the arena site "fisher.x" holds (contents unchanged while the backward pass
// hooks the matrices that read it: the forward cache); dropped at each chunk.
let packed: Float32Array | undefined, packedN = 0, packedCols = 0;
let fisherCols = 0; // the widest input of the current model (room for its panels)

/** Sets the widest matrix input of the model being run (the Fisher kernel's panel site is sized for it). */
export function setFisherWidth(cols: number): void {
  fisherCols = cols;
}

/**
 * collect.ts addFisherMarginals in the relaxed-SIMD module (cache-blocked, fused multiply-adds), and
 * in the same pass over g and x, when given, g2 += gScale·Σ_t g_t² (out_grad2) and x2 += Σ_t x_t²
 * (in_sum2): the same sums as addSquaresWasm. sameX: x is the previous call's input, unchanged (its
 * packed panels are reused where they were kept). False where unavailable.
 */
export function fisherMarginalsWasm(g: Float32Array, x: Float32Array, n: number, rows: number, cols: number, r: Float64Array, c: Float64Array, scale: number, g2?: Float64Array, gScale = 1, x2?: Float64Array, sameX = false): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k);
  const pg = s.in(g, n * rows), px = s.in(x, n * cols);
  const pr = s.alloc(2 * rows), pc = s.alloc(2 * cols), ps = s.alloc(n * (rows + 8));
  const pg2 = g2 ? s.alloc(2 * rows) : 0, px2 = x2 ? s.alloc(2 * cols) : 0;
  // x's panels in the arena, kept for the next matrix with the same input (q/k/v, gate/up), else in scratch
  const panels = arenaArray("fisher.x", n * cols, n * fisherCols);
  const inArena = panels.buffer === k.memory.buffer;
  const pxp = inArena ? panels.byteOffset : s.alloc(n * cols);
  const pack = !(sameX && inArena && packed === x && packedN === n && packedCols === cols && !x2);
  packed = inArena ? x : undefined; packedN = n; packedCols = cols;
  s.f64(pr, rows).set(r); s.f64(pc, cols).set(c);
  if (g2) s.f64(pg2, rows).set(g2);
  if (x2) s.f64(px2, cols).set(x2);
  k.fisher(pg, px, n, rows, cols, pr, pc, scale, ps, pg2, gScale, px2, pxp, pack ? 1 : 0);
  r.set(s.f64(pr, rows)); c.set(s.f64(pc, cols));
  if (g2) g2.set(s.f64(pg2, rows));
  if (x2) x2.set(s.f64(px2, cols));
  return true;
}

/** dx (T × cols) = dy (T × rows) · W (rows × cols) from W as stored (accumulate: dx += it), in WASM; false where unavailable. */
export function matmulBackWasm(dy: Float32Array, T: number, W: Float32Array, rows: number, cols: number, dx: Float32Array, accumulate = false): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k);
  const py = s.in(dy, T * rows), pw = s.in(W, rows * cols), px = accumulate ? s.in(dx, T * cols) : s.outAt(dx, T * cols), ps = s.alloc(rows * 8);
  k.matmulBack(py, T, rows, pw, cols, px, ps, accumulate ? 1 : 0);
  s.out(dx, px, T * cols);
  return true;
}

/**
 * y (T × m) = x (T × n) · Wᵀ with the forward pass's matmul kernel (matmul-wasm.ts matmulFma: the
 * same bits) on this instance, for activations of type F32 or F16 (rounded to F16 first, into `xr`
 * when given: an arena array that keeps the rounded copy for the next matrix with the same input,
 * sameInput). False where unavailable.
 */
export function matmulFwdWasm(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array, f16: boolean, xr?: Float32Array, sameInput = false): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k), len = T * n;
  let px: number;
  if (!f16) px = s.in(x, len);
  else if (xr && xr.buffer === k.memory.buffer) {
    px = xr.byteOffset;
    if (!sameInput) { xr.set(x.subarray(0, len)); k.roundF16(px, len); }
  } else {
    px = s.alloc(len);
    s.f32(px, len).set(x.subarray(0, len));
    k.roundF16(px, len);
  }
  const pw = s.in(W, m * n), py = s.outAt(y, T * m);
  k.matmul(px, T, n, pw, m, py, 0, m);
  s.out(y, py, T * m);
  return true;
}

/** Rounds x to the nearest IEEE half in place (the forward pass's round_f16); false where unavailable. */
export function roundF16CalibWasm(x: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k), n = x.length;
  const p = s.in(x, n);
  k.roundF16(p, n);
  s.out(x, p, n);
  return true;
}

/**
 * Causal attention (the forward pass's attention_fma: the same bits as attentionWasm without KV
 * rounding) into out; with `keep` (nHead·Tp·Tp f32 in the arena, Tp = T rounded up to 4) also its
 * softmax probabilities, which attentionBackWasm then reads instead of recomputing them. False where
 * unavailable (or `keep` is not in kernel memory).
 */
export function attentionFwdWasm(q: Float32Array, kk: Float32Array, v: Float32Array, T: number, nHead: number, nKv: number, d: number, out: Float32Array, keep?: Float32Array): boolean {
  const k = calibKernels();
  if (!k || (keep && keep.buffer !== k.memory.buffer)) return false;
  const s = new Scratch(k), qn = T * nHead * d, kn = T * nKv * d;
  const pq = s.in(q, qn), pk = s.in(kk, kn), pv = s.in(v, kn), po = s.outAt(out, qn), ps = s.alloc(4 * (T + 4));
  if (keep) k.attentionKeep(pq, pk, pv, po, T, nHead, nKv, d, 1 / Math.sqrt(d), ps, keep.byteOffset);
  else k.attention(pq, pk, pv, po, T, nHead, nKv, d, 1 / Math.sqrt(d), ps, 0);
  s.out(out, po, qn);
  return true;
}

/** ops.rmsNorm (groups of n, weight g) into out in WASM, bit for bit; false where unavailable. */
export function rmsNormWasm(x: Float32Array, n: number, g: Float32Array | null, eps: number, out: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k), len = x.length;
  const px = s.in(x, len), pg = g ? s.in(g, n) : 0, po = s.outAt(out, len);
  k.rmsNorm(px, pg, po, len / n, n, eps);
  s.out(out, po, len);
  return true;
}

/** out = a + b elementwise in f32 (the JS loop's sums), in WASM; false where unavailable. */
export function addWasm(out: Float32Array, a: Float32Array, b: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k), n = out.length;
  const pa = s.in(a, n), pb = s.in(b, n), po = s.outAt(out, n);
  k.add(pa, pb, po, n);
  s.out(out, po, n);
  return true;
}
