// The forward pass's WASM kernels: the matmul (f32 lanes, four tokens × two
// weight rows per inner loop), causal attention, SiLU and F16 rounding.
// Operands are copied into the kernel module's memory per call, except weights
// that already live there (the streamed pass's layer arena, below).
import { relaxedModule } from "./relaxed-module.js";
import { Arena, kernels } from "../../quant/wasm.js";
import { activationTypeOf, roundActivations, type ActivationType } from "./act-numerics.js";

// q, k and v share one input: round it once per activation type (Q8_*/BF16: JS; F16 is rounded by the WASM kernels)
let lastInput: Float32Array | undefined, lastType: ActivationType | undefined, lastRounded: Float32Array | undefined;
function roundedInput(x: Float32Array, T: number, n: number, t: ActivationType): Float32Array {
  if (t === "F32") return x;
  if (x !== lastInput || t !== lastType) {
    lastInput = x;
    lastType = t;
    lastRounded = roundActivations(x, T, n, t);
  }
  return lastRounded!;
}

/** Drops the rounded copy of the last matmul input (callers that refill an input array in place call this first). */
export function forgetRoundedInput(): void {
  lastInput = lastRounded = undefined;
  scratchInput = undefined;
}

type MatmulKernel = (x: number, T: number, n: number, W: number, m: number, y: number, o0: number, o1: number) => void;
type AttentionKernel = (q: number, k: number, v: number, out: number, T: number, nHead: number, nKv: number, d: number, scale: number, scores: number, h0: number, h1: number, t0: number) => void;
type FmaAttention = (q: number, k: number, v: number, out: number, T: number, nHead: number, nKv: number, d: number, scale: number, scores: number, t0: number) => void;
let kernel: MatmulKernel | undefined;

interface FmaModule {
  readonly memory: WebAssembly.Memory;
  readonly base: number;
  readonly matmul: MatmulKernel;
  readonly matmulF16: (x: number, T: number, n: number, W16: number, m: number, y: number, o0: number, o1: number, wbuf: number) => void;
  readonly attention: FmaAttention;
  readonly silu: (g: number, u: number, out: number, n: number) => void;
  readonly roundF16: (p: number, n: number) => void;
  readonly f16ToF32: (src: number, dst: number, n: number) => void;
  readonly sumSquares: (x: number, T: number, cols: number, acc: number) => void;
}
let fmaModule: FmaModule | null | undefined;

/**
 * build/forward-relaxed.wasm (assembly/forward_relaxed.ts: the matmul with
 * relaxed-SIMD fused multiply-add, output rows in cache-sized blocks, plus
 * attention, SiLU and F16 rounding, assembly/forward_ops.ts), when the engine
 * runs relaxed SIMD (Node 22+; Node 20 behind V8's
 * --experimental-wasm-relaxed-simd, which is switched on here). Set
 * QUANTSCOPE_NO_FMA=1 for the plain SIMD kernels.
 */
function fmaKernel(): FmaModule | null {
  if (fmaModule !== undefined) return fmaModule;
  fmaModule = null;
  const mod = relaxedModule();
  if (!mod) return null;
  const ex = new WebAssembly.Instance(mod, {}).exports as {
    memory: WebAssembly.Memory; heap_base: () => number; matmul_fma: MatmulKernel; matmul_fma_f16: FmaModule["matmulF16"]; attention_fma: FmaAttention;
    silu_mul: FmaModule["silu"]; round_f16: FmaModule["roundF16"]; f16_to_f32: FmaModule["f16ToF32"]; sum_squares: FmaModule["sumSquares"];
  };
  fmaModule = {
    memory: ex.memory, base: (ex.heap_base() + 15) & ~15, matmul: ex.matmul_fma, matmulF16: ex.matmul_fma_f16, attention: ex.attention_fma, silu: ex.silu_mul,
    roundF16: ex.round_f16, f16ToF32: ex.f16_to_f32, sumSquares: ex.sum_squares,
  };
  return fmaModule;
}

/** The forward kernels' memory buffer now (a grow replaces it, detaching views of the old one); undefined without the module. */
export function kernelMemoryBuffer(): ArrayBuffer | undefined {
  return fmaKernel()?.memory.buffer;
}

/** Whether the forward kernels' module (FMA, layer arena) runs here. */
export function forwardKernelsAvailable(): boolean {
  return fmaKernel() !== null;
}

/** Makes the FMA module's memory at least `end` bytes; returns its buffer. */
function memoryOf(k: FmaModule, end: number): ArrayBuffer {
  if (end > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
  return k.memory.buffer;
}

const align = (b: number) => (b + 15) & ~15;

// The layer arena: the first `arenaBytes` of the FMA module's memory hold one streamed layer's weight
// matrices (stream.ts), read there once per pass, so the matmul reads them in place instead of copying
// each matrix in per call (a copy of the whole layer per batch); per-call scratch for the other operands
// starts after it. Matrices are kept as float32 or, when stored as F16, as their F16 bytes, which the
// matmul decodes block by block (half the memory, and no f32 copy of the layer written out and read
// back). A memory grow detaches JS views of the arena, so each matrix's offset is remembered here and
// the kernels keep finding the weights.
let arenaBytes = 0;
const arenaOffset = new WeakMap<Float32Array, number>();
const halfOffset = new WeakMap<Float32Array, number>();
const scratchBase = (k: FmaModule) => k.base + arenaBytes;

/** A weight matrix in the layer arena: `w` is what the forward pass passes to matmul; `raw`, for an F16 matrix, the bytes to read its stored data into. */
export interface ArenaMatrix {
  readonly w: Float32Array;
  readonly raw?: Uint8Array;
}

/**
 * Room for matrices of values[i] values each (stored F16 where f16[i], else float32), back to back in
 * the layer arena (grown as needed; the previous matrices' contents are then undefined), with at least
 * `scratch` bytes of scratch after it; null where the FMA module is unavailable. A float32 matrix's `w`
 * is a view to fill; an F16 matrix's `w` is an empty handle only matmulWasm understands (its data is
 * `raw`). Only the forward kernels may be relied on to read them after later calls (a memory grow
 * detaches the views from JS).
 */
export function kernelArena(values: readonly number[], f16: readonly boolean[], scratch: number): ArenaMatrix[] | null {
  scratchInput = undefined;
  const k = fmaKernel();
  if (!k) return null;
  const bytes = values.reduce((s, n, i) => s + align(n * (f16[i] ? 2 : 4)), 0);
  arenaBytes = Math.max(arenaBytes, bytes);
  const buf = memoryOf(k, scratchBase(k) + scratch); // grown before the views are made
  let p = k.base;
  return values.map((n, i) => {
    let m: ArenaMatrix;
    if (f16[i]) {
      const w = new Float32Array(0);
      halfOffset.set(w, p);
      m = { w, raw: new Uint8Array(buf, p, 2 * n) };
      p += align(2 * n);
    } else {
      const w = new Float32Array(buf, p, n);
      arenaOffset.set(w, p);
      m = { w };
      p += align(4 * n);
    }
    return m;
  });
}

/** Weight rows per block of the F16 matmul (assembly/forward_relaxed.ts blockRows): its decode buffer holds this many rows. */
const blockRows = (n: number) => Math.max(2, Math.floor(131072 / n) & ~1);

/** Scratch bytes the F16 matmul's decode buffer takes for rows of n values. */
export const f16BlockBytes = (n: number) => align(blockRows(n) * n * 4);

/** Grows the FMA module's memory so that kernel calls needing up to `bytes` of scratch do not grow it (and so do not detach arena views). */
export function reserveKernelScratch(bytes: number): void {
  const k = fmaKernel();
  if (k) memoryOf(k, scratchBase(k) + bytes);
}

/** Byte offset of `a` (first n values) in the FMA module's memory, or -1 when it lives elsewhere. */
function offsetIn(k: FmaModule, a: Float32Array, n: number): number {
  if (a.buffer === k.memory.buffer) return a.byteOffset;
  const p = arenaOffset.get(a);
  if (p !== undefined) return p;
  if (a.length < n) throw new Error(`internal error: kernel operand of ${a.length} values, ${n} needed (a detached view?)`);
  return -1;
}

/** Bytes [0, n) of the FMA module's scratch, to read stored F16 rows into before decodeF16Into. */
export function kernelStaging(n: number): Uint8Array {
  scratchInput = undefined;
  const k = fmaKernel();
  if (!k) throw new Error("internal error: kernelStaging without the FMA module");
  return new Uint8Array(memoryOf(k, scratchBase(k) + n), scratchBase(k), n);
}

/** n little-endian F16 values (bytes, best read into kernelStaging) -> float32 into dst (a kernelArena view) from value `at`, exactly (ggml's bit operations). */
export function decodeF16Into(bytes: Uint8Array, n: number, dst: Float32Array, at: number): void {
  scratchInput = undefined;
  const k = fmaKernel()!;
  if (bytes.length < 2 * n) throw new Error(`internal error: ${bytes.length} bytes of F16 data, ${2 * n} needed (a detached view?)`);
  const pd = offsetIn(k, dst, at + n);
  if (pd < 0) throw new Error("internal error: decodeF16Into needs a kernelArena view");
  let ps = bytes.buffer === k.memory.buffer ? bytes.byteOffset : -1;
  if (ps < 0 || ps < scratchBase(k)) {
    ps = scratchBase(k);
    new Uint8Array(memoryOf(k, ps + 2 * n), ps, 2 * n).set(bytes.subarray(0, 2 * n));
  }
  k.f16ToF32(ps, pd + 4 * at, n);
}

// The input the last matmul left at the start of the scratch (copied, rounded for `act`), for a caller
// that runs one input against several matrices (q, k, v; gate, up); any other use of the scratch drops it.
let scratchInput: { x: Float32Array; T: number; n: number; act: ActivationType; at: number } | undefined;

function matmulFma(k: FmaModule, x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array, act: ActivationType, sameInput: boolean): Float32Array {
  const half = halfOffset.get(W) ?? -1; // F16 weights in the layer arena: decoded block by block
  const inPlace = half >= 0 ? -1 : offsetIn(k, W, m * n); // f32 weights in the layer arena are read where they are
  const px = scratchBase(k), pw = half >= 0 || inPlace >= 0 ? inPlace : px + align(T * n * 4);
  const pb = px + align(T * n * 4) + (half >= 0 || inPlace >= 0 ? 0 : align(m * n * 4)); // F16: the decode buffer
  const py = pb + (half >= 0 ? f16BlockBytes(n) : 0), end = py + T * m * 4;
  const buf = memoryOf(k, end);
  const si = scratchInput;
  if (!(sameInput && si && si.x === x && si.T === T && si.n === n && si.act === act && si.at === px)) {
    // F16 inputs (F16 weights) are rounded in place by the SIMD kernel; Q8 types by act-numerics.ts
    const xin = act === "F32" || act === "F16" ? x : roundedInput(x, T, n, act);
    new Float32Array(buf, px, T * n).set(xin.subarray(0, T * n));
    if (act === "F16") k.roundF16(px, T * n);
    scratchInput = { x, T, n, act, at: px };
  }
  if (half >= 0) k.matmulF16(px, T, n, half, m, py, 0, m, pb);
  else {
    if (inPlace < 0) new Float32Array(buf, pw, m * n).set(W.subarray(0, m * n));
    k.matmul(px, T, n, pw, m, py, 0, m);
  }
  y.set(new Float32Array(buf, py, T * m));
  return y;
}

/** Bytes of scratch `kernelProduct` needs beside its operands for W (m×n): a JS matrix's copy, an F16 matrix's decode buffer. */
function spareBytes(k: FmaModule, W: Float32Array, m: number, n: number): number {
  if (halfOffset.has(W)) return f16BlockBytes(n);
  return offsetIn(k, W, m * n) >= 0 ? 0 : align(m * n * 4);
}

/** py (T×m) = px (T×n) · Wᵀ, all in kernel memory; `spare` holds spareBytes(W) of scratch. */
function kernelProduct(k: FmaModule, px: number, T: number, n: number, W: Float32Array, m: number, py: number, spare: number): void {
  const half = halfOffset.get(W);
  if (half !== undefined) { k.matmulF16(px, T, n, half, m, py, 0, m, spare); return; }
  let pw = offsetIn(k, W, m * n);
  if (pw < 0) {
    pw = spare;
    new Float32Array(k.memory.buffer, pw, m * n).set(W.subarray(0, m * n));
  }
  k.matmul(px, T, n, pw, m, py, 0, m);
}

/**
 * The dense SwiGLU FFN on T rows of f (T×n): d = (silu(f·Wgᵀ) ⊙ f·Wuᵀ)·Wdᵀ (Wg, Wu: F×n, Wd: n×F)
 * into d (T×n), with the gate, up and SwiGLU arrays kept in kernel memory (one step at a time, each
 * was copied out and back in: 6·T·F floats per layer). The same kernels on the same values as
 * matmul, swiglu, matmul: the same result. `capture` sees the SwiGLU output (T×F) during the call.
 * Null (nothing done) without the FMA module or with activation types other than F32/F16.
 */
export function ffnWasm(f: Float32Array, T: number, n: number, Wg: Float32Array, Wu: Float32Array, F: number, Wd: Float32Array, d: Float32Array, capture?: (a: Float32Array) => void): Float32Array | null {
  const k = fmaKernel();
  const act = activationTypeOf(Wg), actDown = activationTypeOf(Wd);
  if (!k || activationTypeOf(Wu) !== act || (act !== "F32" && act !== "F16") || (actDown !== "F32" && actDown !== "F16")) return null;
  scratchInput = undefined;
  const px = scratchBase(k), pg = px + align(T * n * 4), pu = pg + align(T * F * 4), pd = pu + align(T * F * 4);
  const spare = pd + align(T * n * 4);
  let buf = memoryOf(k, spare + Math.max(spareBytes(k, Wg, F, n), spareBytes(k, Wu, F, n), spareBytes(k, Wd, n, F)));
  new Float32Array(buf, px, T * n).set(f.subarray(0, T * n));
  if (act === "F16") k.roundF16(px, T * n);
  kernelProduct(k, px, T, n, Wg, F, pg, spare);
  kernelProduct(k, px, T, n, Wu, F, pu, spare);
  k.silu(pg, pu, pg, T * F); // elementwise: the output may overwrite the gate
  buf = k.memory.buffer;
  liveScratchEnd = spare + Math.max(spareBytes(k, Wg, F, n), spareBytes(k, Wu, F, n), spareBytes(k, Wd, n, F));
  try { capture?.(new Float32Array(buf, pg, T * F)); } finally { liveScratchEnd = 0; }
  if (actDown === "F16") k.roundF16(pg, T * F); // after the capture, which sees the unrounded values
  kernelProduct(k, pg, T, F, Wd, n, pd, spare);
  d.set(new Float32Array(k.memory.buffer, pd, T * n));
  return d;
}

// End of the scratch a kernel sequence still needs while it calls back (ffnWasm's capture), else 0.
let liveScratchEnd = 0;

/**
 * Σ_t x[t, j]² per column j of x (T×cols) in f32, t ascending (products and sums rounded to f32 as
 * the JS loop `acc[j] + Math.fround(x·x)` stored into a Float32Array: the same bits), in WASM SIMD
 * along j; x is read in place when it lives in kernel memory. Null without the FMA module.
 */
export function sumSquaresWasm(x: Float32Array, T: number, cols: number): Float32Array | null {
  const k = fmaKernel();
  if (!k) return null;
  scratchInput = undefined;
  let px = offsetIn(k, x, T * cols);
  const start = Math.max(scratchBase(k), liveScratchEnd, px >= 0 ? align(px + T * cols * 4) : 0);
  const pa = px >= 0 ? start : start + align(T * cols * 4);
  const buf = memoryOf(k, pa + cols * 4);
  if (px < 0) {
    px = start;
    new Float32Array(buf, px, T * cols).set(x.subarray(0, T * cols));
  }
  k.sumSquares(px, T, cols, pa);
  return new Float32Array(buf, pa, cols).slice();
}

/**
 * y[t, o] = Σ_j x[t, j] · W[o, j]  (x: T×n, W: m×n row-major, y: T×m), f32 accumulation. With
 * sameInput the caller states that x is the previous matmul's input, unchanged: its copy (and
 * rounding) is then reused when nothing else used the kernels in between.
 */
export function matmulWasm(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array = new Float32Array(T * m), sameInput = false): Float32Array {
  const act = activationTypeOf(W);
  const fk = fmaKernel();
  if (fk) return matmulFma(fk, x, T, n, W, m, y, act, sameInput);
  kernel ??= kernels()["matmul_f32"] as MatmulKernel;
  if (act !== "F16") x = roundedInput(x, T, n, act);
  const arena = new Arena();
  const px = arena.alloc(T * n * 4), pw = arena.alloc(m * n * 4), py = arena.alloc(T * m * 4);
  arena.f32(px, T * n).set(x.subarray(0, T * n));
  if (act === "F16") {
    // F16 activations (F16 weights): rounded in place by the WASM kernel, much faster than the JS routine
    roundF16 ??= kernels()["round_to_f16"] as (p: number, n: number) => void;
    roundF16(px, T * n);
  }
  arena.f32(pw, m * n).set(W.subarray(0, m * n));
  kernel(px, T, n, pw, m, py, 0, m);
  y.set(arena.f32(py, T * m));
  return y;
}

let attention: AttentionKernel | undefined;
let roundF16: ((p: number, n: number) => void) | undefined;

/**
 * Causal multi-head attention with grouped KV heads over one sequence of T tokens, in WASM (see
 * ops.causalAttention); into `out` when given. With q0 > 0, q and the result hold only the queries
 * of positions [q0, T) ((T − q0) × nHead·d; each position's output is the same as without q0).
 */
export function attentionWasm(q: Float32Array, k: Float32Array, v: Float32Array, T: number, nHead: number, nKv: number, d: number, kvF16: boolean, out?: Float32Array, q0 = 0): Float32Array {
  const fk = fmaKernel();
  if (fk) return attentionFma(fk, q, k, v, T, nHead, nKv, d, kvF16, out, q0);
  attention ??= kernels()["attention_f32"] as AttentionKernel;
  roundF16 ??= kernels()["round_to_f16"] as (p: number, n: number) => void;
  const arena = new Arena();
  const qd = nHead * d, kd = nKv * d, nq = T - q0;
  const pq = arena.alloc(nq * qd * 4), pk = arena.alloc(T * kd * 4), pv = arena.alloc(T * kd * 4), po = arena.alloc(nq * qd * 4), ps = arena.alloc(T * 4);
  arena.f32(pq, nq * qd).set(q.subarray(0, nq * qd));
  arena.f32(pk, T * kd).set(k.subarray(0, T * kd));
  arena.f32(pv, T * kd).set(v.subarray(0, T * kd));
  if (kvF16) {
    roundF16(pk, T * kd);
    roundF16(pv, T * kd);
  }
  attention(pq, pk, pv, po, T, nHead, nKv, d, 1 / Math.sqrt(d), ps, 0, nHead, q0);
  const o = arena.f32(po, nq * qd);
  if (out) { out.set(o); return out; }
  return o.slice();
}

function attentionFma(fk: FmaModule, q: Float32Array, k: Float32Array, v: Float32Array, T: number, nHead: number, nKv: number, d: number, kvF16: boolean, out: Float32Array | undefined, q0: number): Float32Array {
  scratchInput = undefined;
  const qd = nHead * d, kd = nKv * d, nq = T - q0;
  const pq = scratchBase(fk), pk = pq + align(nq * qd * 4), pv = pk + align(T * kd * 4), po = pv + align(T * kd * 4), ps = po + align(nq * qd * 4);
  const buf = memoryOf(fk, ps + 4 * (T + 4) * 4);
  new Float32Array(buf, pq, nq * qd).set(q.subarray(0, nq * qd));
  new Float32Array(buf, pk, T * kd).set(k.subarray(0, T * kd));
  new Float32Array(buf, pv, T * kd).set(v.subarray(0, T * kd));
  if (kvF16) {
    fk.roundF16(pk, T * kd);
    fk.roundF16(pv, T * kd);
  }
  fk.attention(pq, pk, pv, po, T, nHead, nKv, d, 1 / Math.sqrt(d), ps, q0);
  const o = new Float32Array(buf, po, nq * qd);
  if (out) { out.set(o); return out; }
  return o.slice();
}

/** silu(gate) · up elementwise in f32 (WASM SIMD with a polynomial e^x, like llama.cpp's ggml_v_silu); ops.swiglu where the FMA module is unavailable. */
export function swigluWasm(gate: Float32Array, up: Float32Array, out: Float32Array = new Float32Array(gate.length)): Float32Array | null {
  scratchInput = undefined;
  const fk = fmaKernel();
  if (!fk) return null;
  const n = gate.length;
  const pg = scratchBase(fk), pu = pg + align(n * 4), po = pu + align(n * 4);
  const buf = memoryOf(fk, po + n * 4);
  new Float32Array(buf, pg, n).set(gate);
  new Float32Array(buf, pu, n).set(up);
  fk.silu(pg, pu, po, n);
  out.set(new Float32Array(buf, po, n));
  return out;
}
