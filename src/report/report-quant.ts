// Quantize-and-reconstruct for the report: the real bit-exact codec when one
// is registered for the type, otherwise a clearly labelled 2-bit proxy (so the
// report still works while a codec is missing; its findings then say "proxy").
import { dequantize, quantize, supportedTypes } from "../quant/index.js";
import { ggmlTypeByName } from "../ggml/types.js";

export const PROXY_2BIT = "proxy-2bit";

/** True when a bit-exact codec for `type` is registered and fits rows of `cols`. */
export function canQuantize(type: string, cols: number): boolean {
  const t = ggmlTypeByName(type);
  return !!t && supportedTypes().includes(t.name) && cols % t.blockSize === 0;
}

/** W -> dequantize(quantize(W)) with the real codec (imatrix passed through when given). */
export function roundTrip(type: string, w: Float32Array, rows: number, cols: number, imatrix?: Float32Array): Float32Array {
  return dequantize(type, quantize(type, w, rows, cols, imatrix), rows, cols);
}

/**
 * The 2-bit proxy on groups of `group` weights along the row. With offset:
 * levels min + q*(max-min)/3, q in 0..3 (a Q2_K-like min/scale pair, float,
 * plain rounding). Scale only: levels q*d, q in -2..1, with d signed so the
 * largest |x| lands on -2 (the symmetric choice k-quants without a min make).
 */
export function proxyRoundTrip(w: Float32Array, cols: number, group: number, withOffset: boolean): Float32Array {
  const out = new Float32Array(w.length);
  for (let g = 0; g + group <= w.length; g += group) {
    if ((g % cols) + group > cols) continue; // groups never straddle rows (cols % group checked by caller)
    let mn = Infinity, mx = -Infinity, amax = 0, signed = 0;
    for (let i = g; i < g + group; i++) {
      const v = w[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      if (Math.abs(v) > amax) { amax = Math.abs(v); signed = v; }
    }
    if (!(mx >= mn)) continue;
    if (withOffset) {
      const scale = (mx - mn) / 3;
      for (let i = g; i < g + group; i++) {
        const q = scale > 0 ? Math.min(3, Math.max(0, Math.round((w[i]! - mn) / scale))) : 0;
        out[i] = mn + q * scale;
      }
    } else {
      const d = -signed / 2;
      for (let i = g; i < g + group; i++) {
        const q = d !== 0 ? Math.min(1, Math.max(-2, Math.round(w[i]! / d))) : 0;
        out[i] = q * d;
      }
    }
  }
  return out;
}

export function rmse(a: Float32Array, b: Float32Array): number {
  let s = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i]! - b[i]!;
    if (Number.isFinite(e)) { s += e * e; n++; }
  }
  return n ? Math.sqrt(s / n) : 0;
}
