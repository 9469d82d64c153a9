// A plain, statement-for-statement TypeScript port of ggml's
// quantize_row_iq1_s_impl / quantize_row_iq1_m_impl (llama.cpp 3f545becc),
// used as a second oracle beside the golden vectors: no SIMD, no prefilters,
// no precomputed term tables, a stable Array.sort under iq1_sort_helper's
// comparison, and the neighbour lists built as iq2xs_init_impl builds them
// (sort by (distance, index), the 3 smallest distances). Every float
// operation is rounded to float32 (Math.fround), as in C without FMA.
import { readFileSync } from "node:fs";

const f = Math.fround;
const FLT_MAX = f(3.4028234663852886e38);
const QK_K = 256;

/** iq1s_grid as digits 0..2 (grid value + 1), read from the transcribed table. */
const GRID: Uint8Array = (() => {
  const src = readFileSync(new URL("../assembly/iq1_grid.ts", import.meta.url), "utf8");
  const hex = src.match(/0x[0-9a-f]{16}/g)!;
  if (hex.length !== 2048) throw new Error("iq1_grid.ts: expected 2048 entries");
  const g = new Uint8Array(2048 * 8);
  hex.forEach((h, i) => {
    const v = BigInt(h);
    for (let k = 0; k < 8; k++) g[8 * i + k] = ((Number((v >> BigInt(8 * k)) & 0xffn) + 1) & 0xff);
  });
  return g;
})();

/** kmap: 2-bit pattern -> grid index (C's kmap_q2xs for grid points). */
const KMAP = new Map<number, number>();
for (let i = 0; i < 2048; i++) {
  let u = 0;
  for (let k = 0; k < 8; k++) u |= GRID[8 * i + k]! << (2 * k);
  KMAP.set(u, i);
}

const NEIGHBOURS = new Map<number, number[]>();
/** iq2xs_init_impl's neighbour list of an off-grid pattern u (nwant = 3), built on demand. */
function neighbours(u: number): number[] {
  let list = NEIGHBOURS.get(u);
  if (list) return list;
  const pos: number[] = [];
  for (let k = 0; k < 8; k++) pos.push(2 * ((u >> (2 * k)) & 3) + 1);
  const dist: [number, number][] = [];
  for (let j = 0; j < 2048; j++) {
    let d2 = 0;
    for (let k = 0; k < 8; k++) {
      const pg = 2 * GRID[8 * j + k]! + 1;
      d2 += (pg - pos[k]!) * (pg - pos[k]!);
    }
    dist.push([d2, j]);
  }
  dist.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  list = [];
  let d2 = dist[0]![0];
  let nhave = 1;
  for (const [d, j] of dist) {
    if (d > d2) {
      if (nhave === 3) break;
      d2 = d;
      ++nhave;
    }
    list.push(j);
  }
  NEIGHBOURS.set(u, list);
  return list;
}

const i32 = new Int32Array(1);
const f32 = new Float32Array(i32.buffer);
function nearestInt(fval: number): number {
  f32[0] = f(fval + 12582912);
  return (i32[0]! & 0x007fffff) - 0x00400000;
}

function fp32ToFp16(x: number): number {
  f32[0] = x;
  const w = i32[0]! >>> 0;
  f32[0] = 5.192296858534828e33; // 2^112
  const toInf = f32[0]!;
  f32[0] = 7.703719777548943e-34; // 2^-110
  const toZero = f32[0]!;
  let base = f(f(Math.abs(x) * toInf) * toZero);
  const shl1w = (w + w) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1w & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  i32[0] = ((bias >>> 1) + 0x07800000) | 0;
  base = f(f32[0]! + base);
  f32[0] = base;
  const bits = i32[0]! >>> 0;
  const nonsign = ((bits >>> 13) & 0x00007c00) + (bits & 0x00000fff);
  return ((sign >>> 16) | (shl1w > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}

/** iq1_find_best_neighbour2 (without the grid-wide fallback, which reads out of bounds in C). */
function bestNeighbour2(list: number[], xval: Float32Array, o: number, weight: Float32Array, wo: number, scale: number, xg: number[]): number {
  let best = FLT_MAX;
  let gi = -1;
  for (const n of list) {
    let d2 = 0;
    for (let i = 0; i < 8; i++) {
      const q = xg[GRID[8 * n + i]!]!;
      const w = weight[wo + i]!;
      const diff = f(f(scale * q) - xval[o + i]!);
      d2 = f(d2 + f(f(w * diff) * diff));
    }
    if (d2 < best) {
      best = d2;
      gi = n;
    }
  }
  if (gi < 0) throw new Error("reference: no neighbour with a finite error");
  return gi;
}

function sortedIndex(xb: Float32Array, o: number, n: number): number[] {
  const pairs: { v: number; i: number }[] = [];
  for (let j = 0; j < n; j++) pairs.push({ v: xb[o + j]!, i: j });
  pairs.sort((l, r) => (l.v < r.v ? -1 : l.v > r.v ? 1 : 0)); // stable, like glibc's merge sort
  return pairs.map((p) => p.i);
}

function weights(x: Float32Array, xo: number, qw: Float32Array | undefined, qo: number, n: number, sigma2: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    out[i] = qw ? f(qw[qo + i]! * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(v * v);
  }
}

function sigma2Of(x: Float32Array, o: number): number {
  let sumx2 = 0;
  for (let i = 0; i < QK_K; i++) sumx2 = f(sumx2 + f(x[o + i]! * x[o + i]!));
  return f(f(2 * sumx2) / QK_K);
}

/** quantize_iq1_s over rows x cols (cols a multiple of 256); imatrix required. */
export function referenceIq1S(x: Float32Array, rows: number, cols: number, qw: Float32Array): Uint8Array {
  const nbl = cols / QK_K;
  const out = new Uint8Array(rows * nbl * 50);
  const dv = new DataView(out.buffer);
  const xp = [f(-1 + 0.125), f(0.125), f(1 + 0.125)];
  const xm = [f(-1 - 0.125), f(-0.125), f(1 - 0.125)];
  const weight = new Float32Array(32);
  const scales = new Float32Array(8);
  const shifts = new Int8Array(8);
  const L = new Int8Array(32);
  for (let row = 0; row < rows; row++) {
    for (let ibl = 0; ibl < nbl; ibl++) {
      const y = (row * nbl + ibl) * 50;
      const xo = row * cols + ibl * QK_K;
      let maxScale = 0;
      const sigma2 = sigma2Of(x, xo);
      for (let ib = 0; ib < 8; ib++) {
        const xb = xo + 32 * ib;
        weights(x, xb, qw, ibl * QK_K + 32 * ib, 32, sigma2, weight);
        let max = Math.abs(x[xb]!);
        for (let i = 1; i < 32; i++) max = Math.max(max, Math.abs(x[xb + i]!));
        if (max < f(1e-12)) {
          scales[ib] = 0;
          shifts[ib] = 1;
          continue;
        }
        const idx = sortedIndex(x, xb, 32);
        const sumx = new Float32Array(33);
        const sumw = new Float32Array(33);
        for (let j = 0; j < 32; j++) {
          const i = idx[j]!;
          sumx[j + 1] = f(sumx[j]! + f(weight[i]! * x[xb + i]!));
          sumw[j + 1] = f(sumw[j]! + weight[i]!);
        }
        let bestScore = -FLT_MAX;
        let scale = max;
        let besti1 = -1, besti2 = -1, bestShift = 0;
        for (let i1 = 0; i1 <= 32; i1++) {
          for (let i2 = i1; i2 <= 32; i2++) {
            for (const [xx, sh] of [[xp, 1], [xm, -1]] as const) {
              const sumqx = f(f(f(f(sumx[i1]! - sumx[0]!) * xx[0]!) + f(f(sumx[i2]! - sumx[i1]!) * xx[1]!)) + f(f(sumx[32]! - sumx[i2]!) * xx[2]!));
              const sumq2 = f(f(f(f(f(sumw[i1]! - sumw[0]!) * xx[0]!) * xx[0]!) + f(f(f(sumw[i2]! - sumw[i1]!) * xx[1]!) * xx[1]!)) + f(f(f(sumw[32]! - sumw[i2]!) * xx[2]!) * xx[2]!));
              if (sumq2 > 0 && f(sumqx * sumqx) > f(bestScore * sumq2)) {
                scale = f(sumqx / sumq2);
                bestScore = f(scale * sumqx);
                besti1 = i1;
                besti2 = i2;
                bestShift = sh;
              }
            }
          }
        }
        if (besti1 < 0 || besti2 < 0 || bestShift === 0) {
          scales[ib] = 0;
          shifts[ib] = 1;
          continue;
        }
        for (let j = 0; j < 32; j++) L[idx[j]!] = j < besti1 ? 0 : j < besti2 ? 1 : 2;
        if (scale < 0) {
          for (let j = 0; j < 32; j++) L[j] = 2 - L[j]!;
          scale = -scale;
          bestShift = -bestShift;
        }
        const xx = bestShift === 1 ? xp : xm;
        let allOnGrid = true;
        const index: number[] = [];
        for (let k = 0; k < 4; k++) {
          let u = 0;
          for (let j = 0; j < 8; j++) u |= L[8 * k + j]! << (2 * j);
          let gi = KMAP.get(u);
          if (gi === undefined) {
            allOnGrid = false;
            gi = bestNeighbour2(neighbours(u), x, xb + 8 * k, weight, 8 * k, scale, xx);
          }
          index.push(gi);
        }
        if (!allOnGrid) {
          let sumqx = 0, sumq2 = 0;
          for (let k = 0; k < 4; k++) {
            for (let j = 0; j < 8; j++) {
              const w = weight[8 * k + j]!;
              const q = xx[GRID[8 * index[k]! + j]!]!;
              sumqx = f(sumqx + f(f(w * q) * x[xb + 8 * k + j]!));
              sumq2 = f(sumq2 + f(f(w * q) * q));
            }
          }
          if (sumqx > 0 && sumq2 > 0) scale = f(sumqx / sumq2);
        }
        let h = 0;
        for (let k = 0; k < 4; k++) {
          out[y + 2 + 4 * ib + k] = index[k]! & 255;
          h |= (index[k]! >> 8) << (3 * k);
        }
        dv.setUint16(y + 34 + 2 * ib, h, true);
        scales[ib] = scale;
        shifts[ib] = bestShift;
        maxScale = maxScale > scale ? maxScale : scale;
      }
      if (!maxScale) continue;
      const d = f(maxScale / 15);
      dv.setUint16(y, fp32ToFp16(f(d * f(1.125))), true);
      const id = f(1 / d);
      for (let ib = 0; ib < 8; ib++) {
        let l = nearestInt(f(f(0.5) * f(f(id * scales[ib]!) - 1)));
        l = Math.max(0, Math.min(7, l));
        if (shifts[ib] === -1) l |= 8;
        dv.setUint16(y + 34 + 2 * ib, dv.getUint16(y + 34 + 2 * ib, true) | (l << 12), true);
      }
    }
  }
  return out;
}

/** quantize_iq1_m over rows x cols (cols a multiple of 256), imatrix optional. */
export function referenceIq1M(x: Float32Array, rows: number, cols: number, qw?: Float32Array): Uint8Array {
  const nbl = cols / QK_K;
  const out = new Uint8Array(rows * nbl * 56);
  const dv = new DataView(out.buffer);
  const xp = [f(-1 + 0.125), f(0.125), f(1 + 0.125)];
  const xm = [f(-1 - 0.125), f(-0.125), f(1 - 0.125)];
  const masks = [0x00, 0x80, 0x08, 0x88];
  const weight = new Float32Array(16);
  const scales = new Float32Array(16);
  const shifts = new Int8Array(16);
  const L = new Int8Array(16);
  const levels = (s: number, k: number) => (k === 0 ? (s < 2 ? xp : xm) : s % 2 === 0 ? xp : xm);
  for (let row = 0; row < rows; row++) {
    for (let ibl = 0; ibl < nbl; ibl++) {
      const y = (row * nbl + ibl) * 56;
      const xo = row * cols + ibl * QK_K;
      let maxScale = 0;
      const sigma2 = sigma2Of(x, xo);
      for (let ib = 0; ib < 16; ib++) {
        const xb = xo + 16 * ib;
        weights(x, xb, qw, ibl * QK_K + 16 * ib, 16, sigma2, weight);
        let max = Math.abs(x[xb]!);
        for (let i = 1; i < 16; i++) max = Math.max(max, Math.abs(x[xb + i]!));
        if (max < f(1e-7)) {
          scales[ib] = 0;
          shifts[ib] = 0;
          continue;
        }
        const idx = sortedIndex(x, xb, 16);
        let bestScore = -FLT_MAX;
        let scale = max;
        let besti1 = -1, besti2 = -1, bestK = -1;
        for (let i1 = 0; i1 <= 16; i1++) {
          for (let i2 = i1; i2 <= 16; i2++) {
            const sumqx = [0, 0, 0, 0];
            const sumq2 = [0, 0, 0, 0];
            for (let j = 0; j < 16; j++) {
              const g = j < i1 ? 0 : j < i2 ? 1 : 2;
              const i = idx[j]!;
              const w = weight[i]!, v = x[xb + i]!;
              // k = 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-): the first half uses the first sign
              const lv = i < 8 ? [xp[g]!, xp[g]!, xm[g]!, xm[g]!] : [xp[g]!, xm[g]!, xp[g]!, xm[g]!];
              for (let k = 0; k < 4; k++) {
                sumqx[k] = f(sumqx[k]! + f(f(w * lv[k]!) * v));
                sumq2[k] = f(sumq2[k]! + f(f(w * lv[k]!) * lv[k]!));
              }
            }
            for (let k = 0; k < 4; k++) {
              if (sumq2[k]! > 0 && f(sumqx[k]! * sumqx[k]!) > f(bestScore * sumq2[k]!)) {
                scale = f(sumqx[k]! / sumq2[k]!);
                bestScore = f(scale * sumqx[k]!);
                besti1 = i1;
                besti2 = i2;
                bestK = k;
              }
            }
          }
        }
        if (besti1 < 0 || besti2 < 0 || bestK < 0) {
          scales[ib] = 0;
          shifts[ib] = 0;
          continue;
        }
        for (let j = 0; j < 16; j++) L[idx[j]!] = j < besti1 ? 0 : j < besti2 ? 1 : 2;
        if (scale < 0) {
          for (let j = 0; j < 16; j++) L[j] = 2 - L[j]!;
          scale = -scale;
          bestK = bestK === 0 ? 3 : bestK === 1 ? 2 : bestK === 2 ? 1 : 0;
        }
        let allOnGrid = true;
        const index: number[] = [];
        for (let k = 0; k < 2; k++) {
          let u = 0;
          for (let j = 0; j < 8; j++) u |= L[8 * k + j]! << (2 * j);
          let gi = KMAP.get(u);
          if (gi === undefined) {
            allOnGrid = false;
            gi = bestNeighbour2(neighbours(u), x, xb + 8 * k, weight, 8 * k, scale, levels(bestK, k));
          }
          index.push(gi);
        }
        if (!allOnGrid) {
          let sumqx = 0, sumq2 = 0;
          for (let k = 0; k < 2; k++) {
            const xx = levels(bestK, k);
            for (let j = 0; j < 8; j++) {
              const w = weight[8 * k + j]!;
              const q = xx[GRID[8 * index[k]! + j]!]!;
              sumqx = f(sumqx + f(f(w * q) * x[xb + 8 * k + j]!));
              sumq2 = f(sumq2 + f(f(w * q) * q));
            }
          }
          if (sumqx > 0 && sumq2 > 0) scale = f(sumqx / sumq2);
        }
        out[y + 2 * ib] = index[0]! & 255;
        out[y + 2 * ib + 1] = index[1]! & 255;
        out[y + 32 + ib] = (index[0]! >> 8) | ((index[1]! >> 8) << 4);
        scales[ib] = scale;
        shifts[ib] = bestK;
        maxScale = maxScale > scale ? maxScale : scale;
      }
      if (!maxScale) continue;
      let d = f(maxScale / 15);
      const id = f(1 / d);
      let sumqx = 0, sumq2 = 0;
      for (let ib = 0; ib < 16; ib++) {
        let l = nearestInt(f(f(0.5) * f(f(id * scales[ib]!) - 1)));
        l = Math.max(0, Math.min(7, l));
        const sc = y + 48 + 2 * (ib >> 2);
        dv.setUint16(sc, dv.getUint16(sc, true) | (l << (3 * (ib % 4))), true);
        out[y + 32 + ib] = out[y + 32 + ib]! | masks[shifts[ib]!]!;
        const xb = xo + 16 * ib;
        weights(x, xb, qw, ibl * QK_K + 16 * ib, 16, sigma2, weight);
        for (let k = 0; k < 2; k++) {
          const xx = levels(shifts[ib]!, k);
          const g = out[y + 2 * ib + k]! + ((out[y + 32 + ib]! << (8 - 4 * k)) & 0x700);
          for (let j = 0; j < 8; j++) {
            const w = weight[8 * k + j]!;
            const q = f(xx[GRID[8 * g + j]!]! * (2 * l + 1));
            sumqx = f(sumqx + f(f(w * q) * x[xb + 8 * k + j]!));
            sumq2 = f(sumq2 + f(f(w * q) * q));
          }
        }
      }
      if (sumq2 > 0) d = f(sumqx / sumq2);
      const s = fp32ToFp16(f(d * f(1.1125)));
      dv.setUint16(y + 48, dv.getUint16(y + 48, true) | ((s & 0x000f) << 12), true);
      dv.setUint16(y + 50, dv.getUint16(y + 50, true) | ((s & 0x00f0) << 8), true);
      dv.setUint16(y + 52, dv.getUint16(y + 52, true) | ((s & 0x0f00) << 4), true);
      dv.setUint16(y + 54, dv.getUint16(y + 54, true) | (s & 0xf000), true);
    }
  }
  return out;
}
