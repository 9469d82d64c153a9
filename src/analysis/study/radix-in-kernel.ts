// The exact-percentile plan of the fused scans (src/stats/radix-hist.ts), laid
// out in kernel memory for pass B: low-bit counters, the slot table and an
// 8 KB bit set of the wanted buckets (it stays in L1, unlike the 256 KB slot table).
import type { Arena } from "../../quant/wasm.js";
import { absBelowKeys, countBelow, prepare, type RadixPlan } from "../../stats/radix-hist.js";
import { PERCENTILES } from "./section1-distribution.js";

export interface KernelRadixPlan {
  /** The plan; its `lo` is a view of kernel memory (take it again if memory grows). */
  readonly plan: RadixPlan;
  /** Byte offset of the low-bit counters. */
  readonly pLo: number;
  /** Values with |x| < 0.001·std, once pass B has filled the counters. */
  nearZero(plan: RadixPlan): number;
}

/**
 * Plans the study's percentiles (and the |x| < 0.001·std count, from the key
 * histogram instead of a per-element test) for n values with sum gSum and sum
 * of squares gSq; fills the bit set at pWant and the slot table at pSlot.
 */
export function radixPlanInKernel(
  arena: Arena, mem: () => ArrayBuffer, hist: Uint32Array, n: number, gSum: number, gSq: number, pWant: number, pSlot: number,
): KernelRadixPlan {
  const mean = gSum / n;
  const nzKeys = absBelowKeys(0.001 * Math.sqrt(Math.max(0, gSq / n - mean * mean)));
  let pLo = 0;
  const plan0 = prepare(hist, n, PERCENTILES, nzKeys ? [nzKeys.loKey, nzKeys.hiKey] : [], (len) => {
    pLo = arena.alloc(len * 4);
    return new Uint32Array(mem(), pLo, len).fill(0);
  });
  const plan = { ...plan0, lo: new Uint32Array(mem(), pLo, plan0.lo.length) }; // the first view may have been detached by growth
  const want = new Uint32Array(mem(), pWant, 2048).fill(0);
  for (let b = 0; b < 65536; b++) if (plan.slot[b]! >= 0) want[b >>> 5]! |= 1 << (b & 31);
  new Int32Array(mem(), pSlot, 65536).set(plan.slot);
  return {
    plan, pLo,
    nearZero: (p) => (nzKeys ? countBelow(p, hist, nzKeys.hiKey) - countBelow(p, hist, nzKeys.loKey) : 0),
  };
}
