// The lookup tables ggml's iq2xs_init_impl builds for the IQ1 grid (grid size
// 2048, nwant = 3), built once per module instance on first use:
//   KMAP[t]  for the 3^8 = 6561 patterns t = sum L[j] * 3^j (L[j] in 0..2):
//            the grid index if the pattern is a grid point, else -(offset + 1)
//            into NEIGH;
//   NEIGH    for each pattern off the grid: a count n, then the n grid points
//            whose squared distance is one of the 3 smallest distances, ordered
//            by (distance, grid index) as C's qsort with iq2_compare_func does.
// ggml indexes its map by 2-bit digits (size 43692) and also lists patterns
// with a digit 3, which IQ1 never looks up; the lists IQ1 reads are the same.
import { IQ1S_GRID } from "./iq1_grid";

export const NGRID: i32 = 2048;
const NPAT: i32 = 6561;
/** 4513 off-grid patterns, 327721 neighbours in all (counted by the init below). */
const NEIGH_U16: i32 = 4513 + 327721;

/** Per grid point: its 8 digits (grid value + 1, in 0..2), 2 bits each (ggml's kgrid_1bit_2048). */
export const KG: usize = memory.data(NGRID * 2, 16);
/** Per grid point: its 8 digits times 4, one byte each (byte offsets into a 4-float table). */
export const GRID4: usize = memory.data(NGRID * 8, 16);
/** Per grid point: (float)grid[j] + IQ1S_DELTA, then (float)grid[j] - IQ1S_DELTA, 8 floats each (dequantization). */
export const FGRID: usize = memory.data(NGRID * 64, 16);
export const KMAP: usize = memory.data(NPAT * 4, 16);
export const NEIGH: usize = memory.data(NEIGH_U16 * 2, 16);
/** Scratch of the init: thermometer codes of the grid, distances of one pattern. */
const THERM: usize = memory.data(NGRID * 2, 16);
const DIST: usize = memory.data(NGRID, 16);

let ready = false;
let fgridReady = false;

/** Builds FGRID (once per instance): the sums C's dequantizers compute, (float)grid + delta. */
export function iq1InitDequant(): void {
  if (fgridReady) return;
  for (let j = 0; j < NGRID * 8; j++) {
    const g = <f32>load<i8>(IQ1S_GRID + <usize>j);
    const t = FGRID + (<usize>(j >> 3) << 6) + (<usize>(j & 7) << 2);
    store<f32>(t, g + <f32>0.125);
    store<f32>(t, g + <f32>-0.125, 32);
  }
  fgridReady = true;
}

/**
 * Squared distances of all grid points to one pattern, as 1/4 of ggml's
 * sum (pg[k] - pos[k])^2 with pg, pos = 2*digit + 1. In the thermometer code
 * (0 -> 00, 1 -> 01, 2 -> 11) x = a ^ b has popcount |da - db| per digit and
 * both bits set exactly when |da - db| = 2, so (da - db)^2 = popcount(x) +
 * 2 * [both bits]. Exact integers; only their order matters.
 */
function distances(code: u32): void {
  const c = i16x8.splat(<i16>code);
  const lo = i16x8.splat(0x5555);
  for (let j: usize = 0; j < <usize>NGRID; j += 16) {
    const xa = v128.xor(c, v128.load(THERM + (j << 1)));
    const xb = v128.xor(c, v128.load(THERM + (j << 1), 16));
    const ba = v128.and(v128.and(xa, i16x8.shr_u(xa, 1)), lo);
    const bb = v128.and(v128.and(xb, i16x8.shr_u(xb, 1)), lo);
    const da = i16x8.add(i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(xa)), i16x8.shl(i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(ba)), 1));
    const db = i16x8.add(i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(xb)), i16x8.shl(i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(bb)), 1));
    v128.store(DIST + j, i8x16.narrow_i16x8_u(da, db));
  }
}

/** The smallest distance above `above` (255 if none; distances are 1..32 off the grid). */
function minAbove(above: i32): i32 {
  const a = i8x16.splat(<i8>above);
  let m = i8x16.splat(-1);
  for (let j: usize = 0; j < <usize>NGRID; j += 16) {
    const d = v128.load(DIST + j);
    m = i8x16.min_u(m, v128.bitselect(d, i8x16.splat(-1), i8x16.gt_u(d, a)));
  }
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
  return <i32>i8x16.extract_lane_u(m, 0);
}

/** Appends the grid points at distance d, in index order, at NEIGH[off]; returns the new offset. */
function appendAt(d: i32, off: i32): i32 {
  const dv = i8x16.splat(<i8>d);
  for (let j = 0; j < NGRID; j += 16) {
    let m = i8x16.bitmask(i8x16.eq(v128.load(DIST + <usize>j), dv));
    while (m) {
      store<u16>(NEIGH + (<usize>off << 1), <u16>(j + ctz(m)));
      off++;
      m &= m - 1;
    }
  }
  return off;
}

/** Builds KG, KMAP and NEIGH (once per instance). */
export function iq1Init(): void {
  if (ready) return;
  for (let t = 0; t < NPAT; t++) store<i32>(KMAP + (<usize>t << 2), -1);
  for (let j = 0; j < NGRID; j++) {
    const g = IQ1S_GRID + (<usize>j << 3);
    let kg: u32 = 0;
    let t = 0;
    let p3 = 1;
    for (let k = 0; k < 8; k++) {
      const digit = <i32>load<i8>(g + <usize>k) + 1;
      kg |= <u32>digit << (2 * k);
      store<u8>(GRID4 + (<usize>j << 3) + <usize>k, <u8>(digit << 2));
      t += digit * p3;
      p3 *= 3;
    }
    store<u16>(KG + (<usize>j << 1), <u16>kg);
    store<u16>(THERM + (<usize>j << 1), <u16>(kg | ((kg >> 1) & 0x5555)));
    store<i32>(KMAP + (<usize>t << 2), j);
  }
  let off = 0;
  for (let t = 0; t < NPAT; t++) {
    if (load<i32>(KMAP + (<usize>t << 2)) >= 0) continue;
    let code: u32 = 0;
    let r = t;
    for (let k = 0; k < 8; k++) {
      const digit = <u32>(r % 3);
      r /= 3;
      code |= (digit | (digit >> 1)) << (2 * k);
    }
    distances(code);
    store<i32>(KMAP + (<usize>t << 2), -(off + 1));
    const start = off++;
    let d = 0;
    for (let nhave = 0; nhave < 3; nhave++) {
      d = minAbove(d);
      if (d == 255) break;
      off = appendAt(d, off);
    }
    store<u16>(NEIGH + (<usize>start << 1), <u16>(off - start - 1));
  }
  ready = true;
}
