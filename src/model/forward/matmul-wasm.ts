// The forward pass's matmul in WASM SIMD (assembly/matmul.ts): f32 lanes,
// four tokens × two weight rows per inner loop. Operands are copied into the
// kernel module's memory per call; for a T-token batch that copy is 1/T of
// the arithmetic.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { Arena } from "../../quant/wasm.js";
import { kernels } from "../../quant/wasm.js";
import { activationTypeOf, roundActivations, type ActivationType } from "./act-numerics.js";

// q, k and v share one input: round it once per activation type
let lastInput: Float32Array | undefined, lastType: ActivationType | undefined, lastRounded: Float32Array | undefined;
function roundedInput(x: Float32Array, T: number, n: number, t: ActivationType): Float32Array {
  if (t === "F32") return x;
  if (x !== lastInput || t !== lastType) {
    lastInput = x;
    lastType = t;
    lastRounded = t === "F16" ? roundF16Wasm(x.subarray(0, T * n)) : roundActivations(x, T, n, t);
  }
  return lastRounded!;
}

/** F16 rounding through the WASM kernel (the JS routine is several times slower). */
function roundF16Wasm(x: Float32Array): Float32Array {
  roundF16 ??= kernels()["round_to_f16"] as (p: number, n: number) => void;
  const arena = new Arena();
  const p = arena.alloc(x.length * 4);
  arena.f32(p, x.length).set(x);
  roundF16(p, x.length);
  return arena.f32(p, x.length).slice();
}

type MatmulKernel = (x: number, T: number, n: number, W: number, m: number, y: number, o0: number, o1: number) => void;
let kernel: MatmulKernel | undefined;

interface FmaModule { readonly memory: WebAssembly.Memory; readonly base: number; readonly matmul: MatmulKernel }
let fmaModule: FmaModule | null | undefined;

/**
 * build/forward-relaxed.wasm (assembly/forward_relaxed.ts: the same matmul with
 * relaxed-SIMD fused multiply-add, output rows in cache-sized blocks), when the
 * engine runs relaxed SIMD (Node 22+; Node 20 behind V8's
 * --experimental-wasm-relaxed-simd, which is switched on here). Set
 * QUANTSCOPE_NO_FMA=1 for the plain SIMD kernel.
 */
function fmaKernel(): FmaModule | null {
  if (fmaModule !== undefined) return fmaModule;
  fmaModule = null;
  if (process.env.QUANTSCOPE_NO_FMA) return null;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(new URL("../../../build/forward-relaxed.wasm", import.meta.url));
  } catch {
    return null;
  }
  const compile = (): WebAssembly.Module | null => { try { return new WebAssembly.Module(bytes); } catch { return null; } };
  let mod = compile();
  if (!mod) {
    try { setFlagsFromString("--experimental-wasm-relaxed-simd"); } catch { /* an engine without the flag */ }
    mod = compile();
    if (!mod) return null;
  }
  const ex = new WebAssembly.Instance(mod, {}).exports as { memory: WebAssembly.Memory; heap_base: () => number; matmul_fma: MatmulKernel };
  fmaModule = { memory: ex.memory, base: (ex.heap_base() + 15) & ~15, matmul: ex.matmul_fma };
  return fmaModule;
}

function matmulFma(k: FmaModule, x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array): Float32Array {
  const px = k.base, pw = px + ((T * n * 4 + 15) & ~15), py = pw + ((m * n * 4 + 15) & ~15), end = py + T * m * 4;
  if (end > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
  const buf = k.memory.buffer;
  new Float32Array(buf, px, T * n).set(x.subarray(0, T * n));
  new Float32Array(buf, pw, m * n).set(W.subarray(0, m * n));
  k.matmul(px, T, n, pw, m, py, 0, m);
  y.set(new Float32Array(buf, py, T * m));
  return y;
}

/** y[t, o] = Σ_j x[t, j] · W[o, j]  (x: T×n, W: m×n row-major, y: T×m), f32 accumulation. */
export function matmulWasm(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array = new Float32Array(T * m)): Float32Array {
  const act = activationTypeOf(W);
  const fk = fmaKernel();
  if (fk) return matmulFma(fk, act === "F32" ? x : roundedInput(x, T, n, act), T, n, W, m, y);
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

type AttentionKernel = (q: number, k: number, v: number, out: number, T: number, nHead: number, nKv: number, d: number, scale: number, scores: number, h0: number, h1: number) => void;
let attention: AttentionKernel | undefined;
let roundF16: ((p: number, n: number) => void) | undefined;

/** Causal multi-head attention with grouped KV heads over one sequence, in WASM (see ops.causalAttention). */
export function attentionWasm(q: Float32Array, k: Float32Array, v: Float32Array, T: number, nHead: number, nKv: number, d: number, kvF16: boolean): Float32Array {
  attention ??= kernels()["attention_f32"] as AttentionKernel;
  roundF16 ??= kernels()["round_to_f16"] as (p: number, n: number) => void;
  const arena = new Arena();
  const qd = nHead * d, kd = nKv * d;
  const pq = arena.alloc(T * qd * 4), pk = arena.alloc(T * kd * 4), pv = arena.alloc(T * kd * 4), po = arena.alloc(T * qd * 4), ps = arena.alloc(T * 4);
  arena.f32(pq, T * qd).set(q.subarray(0, T * qd));
  arena.f32(pk, T * kd).set(k.subarray(0, T * kd));
  arena.f32(pv, T * kd).set(v.subarray(0, T * kd));
  if (kvF16) {
    roundF16(pk, T * kd);
    roundF16(pv, T * kd);
  }
  attention(pq, pk, pv, po, T, nHead, nKv, d, 1 / Math.sqrt(d), ps, 0, nHead);
  return arena.f32(po, T * qd).slice();
}
