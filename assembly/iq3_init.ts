// The lookup tables ggml's iq3xs_init_impl builds for the IQ3 grids (256
// points for IQ3_XXS, 512 for IQ3_S), built here once per module instance
// into static memory, so the host's Arena (which starts at heapBase) never
// overlaps them. Per grid:
//   gridf: each point's 4 levels 2l+1 (1, 3, .., 15) as an f32x4
//   kmap:  the 4096 points of {0..7}^4 (3 bits per coordinate) -> grid index,
//          or, for an off-grid point, -(first chunk of its neighbours + 1)
//   nn:    an off-grid point's neighbour count
//   neighbours, in chunks of 4 (the last padded with copies of the last one):
//          nbq: the 4 neighbours' levels as f32, coordinate-major (64 bytes per chunk)
//          nbi: their grid indices (4 x u16 per chunk)
// The neighbours are the grid points at the nwant smallest squared distances
// (2 for 256, 3 for 512), ordered by (distance, index): the total order of
// ggml's qsort comparator, so the order does not depend on qsort's algorithm.
// The padding copies never win a comparison (see bestNeighbour in iq3.ts).
import { KGRID_256, KGRID_512 } from "./iq3_tables";

const KMAP_SIZE = 4096;
/** Chunk counts, fixed by the grids (18985 and 24733 neighbours). */
const CHUNKS_256 = 6038;
const CHUNKS_512 = 7427;

export const GRIDF_256: usize = memory.data(256 * 16, 16);
export const KMAP_256: usize = memory.data(KMAP_SIZE * 4, 16);
export const NN_256: usize = memory.data(KMAP_SIZE, 16);
export const NBQ_256: usize = memory.data(CHUNKS_256 * 64, 16);
export const NBI_256: usize = memory.data(CHUNKS_256 * 8, 16);
export const GRIDF_512: usize = memory.data(512 * 16, 16);
export const KMAP_512: usize = memory.data(KMAP_SIZE * 4, 16);
export const NN_512: usize = memory.data(KMAP_SIZE, 16);
export const NBQ_512: usize = memory.data(CHUNKS_512 * 64, 16);
export const NBI_512: usize = memory.data(CHUNKS_512 * 8, 16);

const GRID: usize = memory.data(512 * 4, 16);
const DIST: usize = memory.data(512 * 4, 16);
const LIST: usize = memory.data(512 * 4, 16);

let ready256 = false;
let ready512 = false;

function build(gridSize: i32, kgrid: usize, gridf: usize, kmap: usize, nn: usize, nbq: usize, nbi: usize, nwant: i32, capacity: i32): void {
  for (let k = 0; k < gridSize; k++) {
    const g = <u32>load<u16>(kgrid + (<usize>k << 1));
    let v: u32 = 0;
    for (let i: u32 = 0; i < 4; i++) {
      const q = 2 * ((g >> (3 * i)) & 7) + 1;
      v |= q << (8 * i);
      store<f32>(gridf + (<usize>k << 4) + (<usize>i << 2), <f32>q);
    }
    store<u32>(GRID + (<usize>k << 2), v);
  }
  for (let i = 0; i < KMAP_SIZE; i++) store<i32>(kmap + (<usize>i << 2), -1);
  // the packed levels of a grid point are its kmap index
  for (let k = 0; k < gridSize; k++) store<i32>(kmap + (<usize>load<u16>(kgrid + (<usize>k << 1)) << 2), k);

  let chunk = 0;
  for (let i = 0; i < KMAP_SIZE; i++) {
    if (load<i32>(kmap + (<usize>i << 2)) >= 0) continue;
    const p0 = 2 * (i & 7) + 1, p1 = 2 * ((i >> 3) & 7) + 1, p2 = 2 * ((i >> 6) & 7) + 1, p3 = 2 * ((i >> 9) & 7) + 1;
    let d0 = i32.MAX_VALUE;
    for (let j = 0; j < gridSize; j++) {
      const g = load<u32>(GRID + (<usize>j << 2));
      const a = <i32>(g & 0xff) - p0, b = <i32>((g >> 8) & 0xff) - p1;
      const c = <i32>((g >> 16) & 0xff) - p2, d = <i32>(g >> 24) - p3;
      const d2 = a * a + b * b + c * c + d * d;
      store<i32>(DIST + (<usize>j << 2), d2);
      if (d2 < d0) d0 = d2;
    }
    // ggml sorts (d2, j) and keeps every entry up to the nwant-th distinct d2
    let n = 0;
    let shell = d0;
    for (let s = 0; s < nwant; s++) {
      let next = i32.MAX_VALUE;
      for (let j = 0; j < gridSize; j++) {
        const d2 = load<i32>(DIST + (<usize>j << 2));
        if (d2 == shell) {
          store<i32>(LIST + (<usize>n << 2), j);
          n++;
        } else if (d2 > shell && d2 < next) next = d2;
      }
      if (next == i32.MAX_VALUE) break;
      shell = next;
    }
    store<i32>(kmap + (<usize>i << 2), -(chunk + 1));
    store<u8>(nn + i, <u8>n);
    const nch = (n + 3) >> 2;
    for (let p = 0; p < nch * 4; p++) {
      const j = load<i32>(LIST + (<usize>(p < n ? p : n - 1) << 2));
      const c = chunk + (p >> 2);
      const g = load<u32>(GRID + (<usize>j << 2));
      for (let d = 0; d < 4; d++) store<f32>(nbq + (<usize>c << 6) + (<usize>(d * 4 + (p & 3)) << 2), <f32>((g >> (8 * d)) & 0xff));
      store<u16>(nbi + (<usize>c << 3) + (<usize>(p & 3) << 1), <u16>j);
    }
    chunk += nch;
  }
  if (chunk != capacity) unreachable(); // the counts above are facts of the grids
}

/** Builds the IQ3_XXS tables on first use. */
export function initGrid256(): void {
  if (ready256) return;
  build(256, KGRID_256, GRIDF_256, KMAP_256, NN_256, NBQ_256, NBI_256, 2, CHUNKS_256);
  ready256 = true;
}

/** Builds the IQ3_S tables on first use. */
export function initGrid512(): void {
  if (ready512) return;
  build(512, KGRID_512, GRIDF_512, KMAP_512, NN_512, NBQ_512, NBI_512, 3, CHUNKS_512);
  ready512 = true;
}
