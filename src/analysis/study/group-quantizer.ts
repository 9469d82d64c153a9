// One seam for "quantize a group of weights and measure the error", used by
// study sections 3, 6 and 9. Three implementations:
//  - proxyQuantizer(): the study's 2-bit model with its defects fixed (see docs/corrections.md);
//  - seed-compat keeps the study's exact arithmetic in study/seed-proxy.ts (it never goes through here);
//  - codecQuantizer(type): a real ggml type via quantize/dequantize from src/quant (bit-exact with llama.cpp).
import { QuantscopeError } from "../../io/errors.js";
import { codecFor, dequantize, quantize } from "../../quant/index.js";
import type { QuantizerInfo } from "./types.js";
import { round03 } from "../../stats/float32.js";

export interface GroupQuantizer {
  readonly info: QuantizerInfo;
  /** Columns of a row this quantizer covers: the row length rounded down to whole blocks. */
  usableCols(cols: number): number;
  /**
   * Quantizes and reconstructs rows [row0, row0+nRows) of a row-major matrix
   * with `cols` columns; writes nRows × usableCols(cols) values to out.
   * Non-finite inputs may produce anything at their own positions; callers skip them.
   */
  roundTrip(src: Float32Array, cols: number, row0: number, nRows: number, out: Float32Array): void;
}

/** Group size of the 2-bit proxy (Q2_K's sub-block). */
export const PROXY_GROUP = 16;

/**
 * The study's 2-bit model, fixed: per 16-element group, 4 levels min + d·{0,1,2,3}
 * with min = min(group min, 0) (Q2_K stores a non-positive min), d = (max − min)/3,
 * nearest level (ties up), f64 arithmetic. Non-finite values are
 * ignored when finding the group's min/max. A constant-zero group reconstructs exactly.
 */
export function proxyQuantizer(): GroupQuantizer {
  return {
    info: {
      name: "proxy",
      description: "2-bit affine proxy: 16-element groups, levels min+d·{0..3}, min clamped ≤ 0, float scale and min (not Q2_K's 4-bit codes)",
      blockSize: PROXY_GROUP,
    },
    usableCols: (cols) => cols - (cols % PROXY_GROUP),
    roundTrip(src, cols, row0, nRows, out) {
      const use = cols - (cols % PROXY_GROUP);
      for (let r = 0; r < nRows; r++) {
        const so = (row0 + r) * cols;
        const oo = r * use;
        for (let g = 0; g < use; g += PROXY_GROUP) {
          let mn = 0, mx = -Infinity;
          for (let i = 0; i < PROXY_GROUP; i++) {
            const x = src[so + g + i]!;
            if (x - x !== 0) continue;
            if (x < mn) mn = x;
            if (x > mx) mx = x;
          }
          const d = (mx - mn) / 3;
          if (!(d > 0)) {
            for (let i = 0; i < PROXY_GROUP; i++) out[oo + g + i] = mn;
            continue;
          }
          const inv = 1 / d;
          for (let i = 0; i < PROXY_GROUP; i++) {
            const q = round03((src[so + g + i]! - mn) * inv);
            out[oo + g + i] = mn + d * q;
          }
        }
      }
    },
  };
}

/** A real ggml type through the codec registry (clear error if it is not registered). */
export function codecQuantizer(type: string): GroupQuantizer {
  const codec = codecFor(type); // throws a QuantscopeError naming the supported types
  const bs = codec.info.blockSize;
  if (codec.imatrix === "required") {
    throw new QuantscopeError(`type ${codec.info.name} requires an importance matrix; the study measures without one (use a type that does not need it)`);
  }
  return {
    info: {
      name: codec.info.name,
      description: `${codec.info.name} via quantscope's bit-exact codec (llama.cpp's quantize_row / to_float, no imatrix)`,
      blockSize: bs,
    },
    usableCols: (cols) => cols - (cols % bs),
    roundTrip(src, cols, row0, nRows, out) {
      const use = cols - (cols % bs);
      if (use === 0 || nRows === 0) return;
      let block: Float32Array;
      if (use === cols) block = src.subarray(row0 * cols, (row0 + nRows) * cols);
      else {
        block = new Float32Array(nRows * use);
        for (let r = 0; r < nRows; r++) block.set(src.subarray((row0 + r) * cols, (row0 + r) * cols + use), r * use);
      }
      // Non-finite inputs would poison a whole block's scale: replace them with 0 (they are skipped when measuring).
      let clean = true;
      for (let i = 0; i < block.length; i++) if (block[i]! - block[i]! !== 0) { clean = false; break; }
      if (!clean) {
        block = Float32Array.from(block, (x) => (x - x === 0 ? x : 0));
      }
      out.set(dequantize(type, quantize(type, block, nRows, use), nRows, use).subarray(0, nRows * use));
    },
  };
}

/** --type value -> quantizer: "proxy" or any registered ggml type name. */
export function quantizerFor(type: string): GroupQuantizer {
  if (type.toLowerCase() === "proxy") return proxyQuantizer();
  return codecQuantizer(type);
}
