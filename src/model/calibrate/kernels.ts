// Host of calibrate's kernels in the relaxed-SIMD module (assembly/calib_relaxed.ts, built into
// build/forward-relaxed.wasm): its own instance, so the forward pass's use of that module
// (src/model/forward/matmul-wasm.ts) and this one never share scratch memory. null where the
// engine lacks relaxed SIMD or QUANTSCOPE_NO_FMA=1; callers then use the plain-SIMD kernels.
import { relaxedModule } from "../forward/relaxed-module.js";

export interface CalibKernels {
  readonly memory: WebAssembly.Memory;
  readonly base: number;
  readonly attentionBack: (q: number, k: number, v: number, dout: number, dq: number, dk: number, dv: number, T: number, nHead: number, nKv: number, d: number, scale: number, P: number, dS: number) => void;
  readonly swigluKeep: (g: number, u: number, a: number, sg: number, n: number) => void;
  readonly swigluBack: (da: number, z: number, u: number, sg: number, dgt: number, dup: number, n: number) => void;
  readonly rmsNormBack: (x: number, dy: number, g: number, res: number, dx: number, rows: number, n: number, eps: number) => void;
  readonly addSquares: (acc: number, data: number, T: number, n: number, scale: number) => void;
  readonly ropeBack: (x: number, T: number, nHead: number, headDim: number, ropeDim: number, cos: number, sin: number, neox: number) => void;
  readonly fisher: (g: number, x: number, T: number, rows: number, cols: number, R: number, C: number, scale: number, scratch: number) => void;
  readonly matmulBack: (dy: number, T: number, rows: number, W: number, cols: number, dx: number, scratch: number) => void;
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
    swigluKeep: ex["swiglu_keep"] as CalibKernels["swigluKeep"],
    swigluBack: ex["swiglu_back"] as CalibKernels["swigluBack"],
    rmsNormBack: ex["rms_norm_back"] as CalibKernels["rmsNormBack"],
    addSquares: ex["add_squares"] as CalibKernels["addSquares"],
    ropeBack: ex["rope_back"] as CalibKernels["ropeBack"],
    fisher: ex["fisher_marginals_fma"] as CalibKernels["fisher"],
    matmulBack: ex["matmul_back_fma"] as CalibKernels["matmulBack"],
  };
  return mod;
}

/** A bump allocator over the calibrate instance's memory, from its base on each new Scratch. */
export class Scratch {
  private top: number;
  constructor(private readonly k: CalibKernels) {
    this.top = k.base;
  }
  /** n f32 (or 4n bytes), 16-byte aligned; grows memory (take views only after the last alloc). */
  alloc(n: number): number {
    const p = this.top;
    this.top += (n * 4 + 15) & ~15;
    const have = this.k.memory.buffer.byteLength;
    if (this.top > have) this.k.memory.grow(Math.ceil((this.top - have) / 65536));
    return p;
  }
  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, p, n);
  }
  f64(p: number, n: number): Float64Array {
    return new Float64Array(this.k.memory.buffer, p, n);
  }
}

/** a = silu(gate)·up (the forward pass's SwiGLU bits) and sg = sigmoid(gate), in WASM; false where the module is unavailable. */
export function swigluKeepWasm(gate: Float32Array, up: Float32Array, a: Float32Array, sg: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const n = gate.length, s = new Scratch(k);
  const pg = s.alloc(n), pu = s.alloc(n), pa = s.alloc(n), ps = s.alloc(n);
  s.f32(pg, n).set(gate); s.f32(pu, n).set(up);
  k.swigluKeep(pg, pu, pa, ps, n);
  a.set(s.f32(pa, n)); sg.set(s.f32(ps, n));
  return true;
}

/** SwiGLU backward into dgt, dup, in WASM; false where the module is unavailable. */
export function swigluBackWasm(da: Float32Array, gt: Float32Array, up: Float32Array, sg: Float32Array, dgt: Float32Array, dup: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const n = da.length, s = new Scratch(k);
  const pd = s.alloc(n), pz = s.alloc(n), pu = s.alloc(n), ps = s.alloc(n), pg = s.alloc(n), pp = s.alloc(n);
  s.f32(pd, n).set(da); s.f32(pz, n).set(gt.subarray(0, n)); s.f32(pu, n).set(up.subarray(0, n)); s.f32(ps, n).set(sg.subarray(0, n));
  k.swigluBack(pd, pz, pu, ps, pg, pp, n);
  dgt.set(s.f32(pg, n)); dup.set(s.f32(pp, n));
  return true;
}

/** RMSNorm backward (rows of n, n % 4 == 0) into dx, plus res when given, in WASM; false where unavailable or n % 4 != 0. */
export function rmsNormBackWasm(x: Float32Array, n: number, g: Float32Array | null, eps: number, dy: Float32Array, dx: Float32Array, res?: Float32Array): boolean {
  const k = n % 4 === 0 ? calibKernels() : null;
  if (!k) return false;
  const len = x.length, s = new Scratch(k);
  const px = s.alloc(len), pd = s.alloc(len), pg = g ? s.alloc(n) : 0, pr = res ? s.alloc(len) : 0, po = s.alloc(len);
  s.f32(px, len).set(x); s.f32(pd, len).set(dy.subarray(0, len));
  if (g) s.f32(pg, n).set(g);
  if (res) s.f32(pr, len).set(res.subarray(0, len));
  k.rmsNormBack(px, pd, pg, pr, po, len / n, n, eps);
  dx.set(s.f32(po, len));
  return true;
}

/** acc[at + j] += scale·x_tj² over the T rows of data (T × n), in WASM (the JS loop's f64 operations); false where unavailable. */
export function addSquaresWasm(acc: Float64Array, data: Float32Array, T: number, n: number, scale: number, at: number): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k);
  const pa = s.alloc(2 * n), pd = s.alloc(T * n);
  const a = acc.subarray(at, at + n);
  s.f64(pa, n).set(a); s.f32(pd, T * n).set(data.subarray(0, T * n));
  k.addSquares(pa, pd, T, n, scale);
  a.set(s.f64(pa, n));
  return true;
}

/** Inverse RoPE rotation of x in place (backward.ts ropeBack) with the given f64 angle tables, in WASM; false where unavailable. */
export function ropeBackWasm(x: Float32Array, T: number, nHead: number, headDim: number, ropeDim: number, cos: Float64Array, sin: Float64Array, neox: boolean): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k), n = T * nHead * headDim, nt = T * (ropeDim / 2);
  const px = s.alloc(n), pc = s.alloc(2 * nt), ps = s.alloc(2 * nt);
  s.f32(px, n).set(x.subarray(0, n)); s.f64(pc, nt).set(cos.subarray(0, nt)); s.f64(ps, nt).set(sin.subarray(0, nt));
  k.ropeBack(px, T, nHead, headDim, ropeDim, pc, ps, neox ? 1 : 0);
  x.set(s.f32(px, n));
  return true;
}

/** collect.ts addFisherMarginals in the relaxed-SIMD module (cache-blocked, fused multiply-adds); false where unavailable. */
export function fisherMarginalsWasm(g: Float32Array, x: Float32Array, n: number, rows: number, cols: number, r: Float64Array, c: Float64Array, scale: number): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k);
  const pg = s.alloc(n * rows), px = s.alloc(n * cols), pr = s.alloc(2 * rows), pc = s.alloc(2 * cols), ps = s.alloc(n * (rows + cols + 8));
  s.f32(pg, n * rows).set(g.subarray(0, n * rows));
  s.f32(px, n * cols).set(x.subarray(0, n * cols));
  s.f64(pr, rows).set(r); s.f64(pc, cols).set(c);
  k.fisher(pg, px, n, rows, cols, pr, pc, scale, ps);
  r.set(s.f64(pr, rows)); c.set(s.f64(pc, cols));
  return true;
}

/** dx (T × cols) = dy (T × rows) · W (rows × cols) from W as stored, in WASM; false where unavailable. */
export function matmulBackWasm(dy: Float32Array, T: number, W: Float32Array, rows: number, cols: number, dx: Float32Array): boolean {
  const k = calibKernels();
  if (!k) return false;
  const s = new Scratch(k);
  const py = s.alloc(T * rows), pw = s.alloc(rows * cols), px = s.alloc(T * cols), ps = s.alloc(rows * 8);
  s.f32(py, T * rows).set(dy.subarray(0, T * rows));
  s.f32(pw, rows * cols).set(W.subarray(0, rows * cols));
  k.matmulBack(py, T, rows, pw, cols, px, ps);
  dx.set(s.f32(px, T * cols));
  return true;
}
