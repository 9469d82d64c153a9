// The forward pass's matmul in WASM SIMD (assembly/matmul.ts): f32 lanes,
// four tokens × two weight rows per inner loop. Operands are copied into the
// kernel module's memory per call; for a T-token batch that copy is 1/T of
// the arithmetic.
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
    lastRounded = roundActivations(x, T, n, t);
  }
  return lastRounded!;
}

type MatmulKernel = (x: number, T: number, n: number, W: number, m: number, y: number, o0: number, o1: number) => void;
let kernel: MatmulKernel | undefined;

/** y[t, o] = Σ_j x[t, j] · W[o, j]  (x: T×n, W: m×n row-major, y: T×m), f32 accumulation. */
export function matmulWasm(x: Float32Array, T: number, n: number, W: Float32Array, m: number, y: Float32Array = new Float32Array(T * m)): Float32Array {
  kernel ??= kernels()["matmul_f32"] as MatmulKernel;
  const act = activationTypeOf(W);
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
