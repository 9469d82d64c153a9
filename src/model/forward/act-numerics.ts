// llama.cpp's CPU matmuls do not multiply f32 activations with the weights:
// each activation row is first converted to the weight type's "vec_dot_type"
// (F16 for F16 weights, Q8_0/Q8_1 for the legacy 32-blocks, Q8_K for the
// K-quants and most IQ types), and the dot products run on those. That adds a
// little noise on top of the weight error, which llama-perplexity's KL
// includes. Weights registered here get their activations rounded the same
// way before the f32 matmul (dequantized activation × dequantized weight),
// so measured KL matches llama.cpp's instead of the weight error alone.
import { floatToHalf, halfToFloat } from "../../ggml/float-convert.js";

export type ActivationType = "F32" | "F16" | "BF16" | "Q8_0" | "Q8_1" | "Q8_K";

/** vec_dot_type of each weight type in ggml-cpu's type_traits_cpu (llama.cpp 3f545bec). */
export function vecDotType(weightType: string): ActivationType {
  switch (weightType.toUpperCase()) {
    case "F32": return "F32";
    case "F16": return "F16";
    case "BF16": return "BF16";
    case "Q4_1": case "Q5_1": case "Q8_1": return "Q8_1";
    case "Q1_0": case "Q2_0": case "Q4_0": case "Q5_0": case "Q8_0": case "MXFP4": case "NVFP4": case "IQ4_NL": return "Q8_0";
    default: return "Q8_K"; // Q2_K..Q6_K, IQ1..IQ3, IQ4_XS, TQ1_0, TQ2_0
  }
}

const registered = new WeakMap<Float32Array, ActivationType>();

/** Marks a weight array as stored in `weightType` (its matmuls then see llama.cpp's activation rounding). */
export function registerWeightType(w: Float32Array, weightType: string): void {
  const t = vecDotType(weightType);
  if (t === "F32") registered.delete(w);
  else registered.set(w, t);
}

export function activationTypeOf(w: Float32Array): ActivationType {
  return registered.get(w) ?? "F32";
}

const f = Math.fround;

/** ggml's nearest_int: round half to even, like the magic-number trick. */
function nearestEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function bf16Round(x: number): number {
  const b = new Float32Array([x]);
  const u = new Uint32Array(b.buffer);
  if ((u[0]! & 0x7fffffff) > 0x7f800000) return x; // NaN stays
  u[0] = ((u[0]! + (0x7fff + ((u[0]! >>> 16) & 1))) >>> 16) << 16;
  return b[0]!;
}

/** The activations (T rows of n) as llama.cpp's CPU matmul sees them for this activation type. */
export function roundActivations(x: Float32Array, T: number, n: number, type: ActivationType): Float32Array {
  if (type === "F32") return x;
  const y = new Float32Array(T * n);
  if (type === "F16") {
    for (let i = 0; i < T * n; i++) y[i] = halfToFloat(floatToHalf(x[i]!));
    return y;
  }
  if (type === "BF16") {
    for (let i = 0; i < T * n; i++) y[i] = bf16Round(x[i]!);
    return y;
  }
  const block = type === "Q8_K" ? 256 : 32;
  if (n % block !== 0) return x; // llama-quantize never pairs such a row length with this type
  for (let b = 0; b < T * n; b += block) {
    if (type === "Q8_K") {
      // quantize_row_q8_K_ref: signed max, iscale = -127/max, nearest_int, clamp to 127, d = 1/iscale (f32)
      let max = 0, amax = 0;
      for (let j = 0; j < block; j++) {
        const ax = Math.abs(x[b + j]!);
        if (ax > amax) { amax = ax; max = x[b + j]!; }
      }
      if (!amax) continue; // zeros
      const iscale = f(-127 / max), d = f(1 / iscale);
      for (let j = 0; j < block; j++) y[b + j] = f(d * (Math.min(127, nearestEven(f(iscale * x[b + j]!))) + 0)); // int8: no -0
    } else {
      // x86 quantize_row_q8_0/q8_1: d = amax/127 stored as fp16, id = 127/amax, round half to even
      let amax = 0;
      for (let j = 0; j < block; j++) amax = Math.max(amax, Math.abs(x[b + j]!));
      const d = halfToFloat(floatToHalf(f(amax / 127)));
      const id = amax !== 0 ? f(127 / amax) : 0;
      for (let j = 0; j < block; j++) y[b + j] = f(d * (nearestEven(f(x[b + j]! * id)) + 0)); // int8: no -0
    }
  }
  return y;
}
