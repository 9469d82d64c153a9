// The lookup tables ggml's iq3xs_init_impl builds for the IQ3 grids (256
// points for IQ3_XXS, 512 for IQ3_S), built here once per module instance
// into static memory, so the host's Arena (which starts at heapBase) never
// overlaps them:
//   grid:  each point as 4 int8 levels 2l+1 (1, 3, .., 15), one u32 per point
//   kmap:  the 4096 points of {0..7}^4 (3 bits per coordinate) -> grid index,
//          or -(offset + 1) of the point's neighbour list when it is off-grid
//   neigh: neighbour lists, each [n, j_1 .. j_n]: the grid points at the
//          nwant smallest squared distances (2 for 256, 3 for 512), ordered by
//          (distance, index) -- the total order ggml's qsort comparator
//          defines, so the order does not depend on the qsort implementation.
import { KGRID_256, KGRID_512 } from "./iq3_tables";

const KMAP_SIZE = 4096;
/** Neighbour-list lengths in u16 (counts + entries), fixed by the grids. */
const NEIGH_256_LEN = 22825;
const NEIGH_512_LEN = 28317;

export const GRID_256: usize = memory.data(256 * 4, 16);
export const KMAP_256: usize = memory.data(KMAP_SIZE * 4, 16);
export const NEIGH_256: usize = memory.data(NEIGH_256_LEN * 2, 16);
export const GRID_512: usize = memory.data(512 * 4, 16);
export const KMAP_512: usize = memory.data(KMAP_SIZE * 4, 16);
export const NEIGH_512: usize = memory.data(NEIGH_512_LEN * 2, 16);

const DIST: usize = memory.data(512 * 4, 16);

let ready256 = false;
let ready512 = false;

function build(gridSize: i32, kgrid: usize, grid: usize, kmap: usize, neigh: usize, nwant: i32, capacity: i32): void {
  for (let k = 0; k < gridSize; k++) {
    const g = <u32>load<u16>(kgrid + (<usize>k << 1));
    let v: u32 = 0;
    for (let i: u32 = 0; i < 4; i++) v |= (2 * ((g >> (3 * i)) & 7) + 1) << (8 * i);
    store<u32>(grid + (<usize>k << 2), v);
  }
  for (let i = 0; i < KMAP_SIZE; i++) store<i32>(kmap + (<usize>i << 2), -1);
  // the packed levels of a grid point are its kmap index
  for (let k = 0; k < gridSize; k++) store<i32>(kmap + (<usize>load<u16>(kgrid + (<usize>k << 1)) << 2), k);

  let counter = 0;
  for (let i = 0; i < KMAP_SIZE; i++) {
    if (load<i32>(kmap + (<usize>i << 2)) >= 0) continue;
    const p0 = 2 * (i & 7) + 1, p1 = 2 * ((i >> 3) & 7) + 1, p2 = 2 * ((i >> 6) & 7) + 1, p3 = 2 * ((i >> 9) & 7) + 1;
    let d0 = i32.MAX_VALUE;
    for (let j = 0; j < gridSize; j++) {
      const g = load<u32>(grid + (<usize>j << 2));
      const a = <i32>(g & 0xff) - p0, b = <i32>((g >> 8) & 0xff) - p1;
      const c = <i32>((g >> 16) & 0xff) - p2, d = <i32>(g >> 24) - p3;
      const d2 = a * a + b * b + c * c + d * d;
      store<i32>(DIST + (<usize>j << 2), d2);
      if (d2 < d0) d0 = d2;
    }
    // ggml sorts (d2, j) and keeps every entry up to the nwant-th distinct d2
    const start = counter;
    counter++;
    store<i32>(kmap + (<usize>i << 2), -(start + 1));
    let shell = d0;
    for (let s = 0; s < nwant; s++) {
      let next = i32.MAX_VALUE;
      for (let j = 0; j < gridSize; j++) {
        const d2 = load<i32>(DIST + (<usize>j << 2));
        if (d2 == shell) {
          store<u16>(neigh + (<usize>counter << 1), <u16>j);
          counter++;
        }
        else if (d2 > shell && d2 < next) next = d2;
      }
      if (next == i32.MAX_VALUE) break;
      shell = next;
    }
    store<u16>(neigh + (<usize>start << 1), <u16>(counter - start - 1));
  }
  if (counter != capacity) unreachable(); // the lengths above are facts of the grids
}

/** Builds the IQ3_XXS tables on first use. */
export function initGrid256(): void {
  if (ready256) return;
  build(256, KGRID_256, GRID_256, KMAP_256, NEIGH_256, 2, NEIGH_256_LEN);
  ready256 = true;
}

/** Builds the IQ3_S tables on first use. */
export function initGrid512(): void {
  if (ready512) return;
  build(512, KGRID_512, GRID_512, KMAP_512, NEIGH_512, 3, NEIGH_512_LEN);
  ready512 = true;
}
