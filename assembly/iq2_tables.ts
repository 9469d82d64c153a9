// The quantizer's lookup tables of the IQ2 grid types, built once per module
// instance on first use (ggml builds them in iq2xs_init_impl, called by
// ggml_quantize_init). They live in static memory (memory.data), below
// __heap_base, so the host's Arena never overlaps them. Per grid (256, 512 or
// 1024 points):
//  * KMAP: key -> the grid index of that point, or -(offset + 1) of its
//    neighbour list. ggml's key is u = sum l_i*4^i (2 bits a level, 43692
//    entries); levels here are 0..2 only (see below), so the key is the
//    base-3 number c = sum l_i*3^i (6561 entries), the same map in less memory.
//  * NEIGH: neighbour lists, u16: [n, 0, 0, 0, g_1 .. g_n, padding]. The list of u is
//    every grid point whose squared distance to u is among the nwant smallest
//    distinct distances (nwant = 2 for 256/512, 1 for 1024), ordered by
//    (distance, index) as ggml's qsort with iq2_compare_func leaves them. That
//    comparator is a total order (indices differ), so the order does not
//    depend on the sort algorithm. The list is padded with copies of g_n up to
//    a multiple of 4 for the 4-lane search (a copy never beats the original:
//    the search keeps the first strict minimum).
//  * PK: beside every group of 4 list entries (at 8x its u16 offset), their
//    levels transposed, byte 4i+j = 4*l_i of entry j (the search's swizzle
//    offsets); QF: grid index -> its 8 coordinates 2l+1 as f32.
// Only keys whose 8 levels are all <= 2 get a list: the quantizers clamp
// every level to [0, kMaxQ-1] = [0, 2] before they look a key up, so the
// others (level 3) are never read. Grid points use levels 0..2 only.
import { GRID_256, GRID_512, GRID_1024 } from "./iq2_grids";

export const KMAP_SIZE: i32 = 6561;

// Exact list storage (u16 units) of the reachable keys, incl. headers and padding.
const NEIGH_CAP_256: i32 = 147888;
const NEIGH_CAP_512: i32 = 214924;
const NEIGH_CAP_1024: i32 = 76512;

const KMAP_256: usize = memory.data(KMAP_SIZE * 4, 16);
const KMAP_512: usize = memory.data(KMAP_SIZE * 4, 16);
const KMAP_1024: usize = memory.data(KMAP_SIZE * 4, 16);
const NEIGH_256: usize = memory.data(NEIGH_CAP_256 * 2, 16);
const NEIGH_512: usize = memory.data(NEIGH_CAP_512 * 2, 16);
const NEIGH_1024: usize = memory.data(NEIGH_CAP_1024 * 2, 16);
const PK_256: usize = memory.data(NEIGH_CAP_256 * 8, 16);
const PK_512: usize = memory.data(NEIGH_CAP_512 * 8, 16);
const PK_1024: usize = memory.data(NEIGH_CAP_1024 * 8, 16);
const QF_256: usize = memory.data(256 * 32, 16);
const QF_512: usize = memory.data(512 * 32, 16);
const QF_1024: usize = memory.data(1024 * 32, 16);

// Init scratch: levels transposed (coordinate k: one byte per point) and one
// key's distances to every point.
const LT: usize = memory.data(8 * 1024, 16);
const LV4: usize = memory.data(1024 * 8, 16);
const DIST: usize = memory.data(1024, 16);
/** Squares of |level difference| 0..2 for the distance swizzle. */
const SQ: usize = memory.data<u8>([0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 16);

let ready: i32 = 0; // bit t: tables of grid t built

/** Builds the tables of the 256-, 512- or 1024-point grid once per instance. */
export function iq2Init(gsize: i32): void {
  if (gsize == 256) {
    if (!(ready & 1)) { build(GRID_256, 256, 2, KMAP_256, NEIGH_256, PK_256, QF_256, NEIGH_CAP_256); ready |= 1; }
  } else if (gsize == 512) {
    if (!(ready & 2)) { build(GRID_512, 512, 2, KMAP_512, NEIGH_512, PK_512, QF_512, NEIGH_CAP_512); ready |= 2; }
  } else if (!(ready & 4)) { build(GRID_1024, 1024, 1, KMAP_1024, NEIGH_1024, PK_1024, QF_1024, NEIGH_CAP_1024); ready |= 4; }
}

// (No objects: the stub runtime would allocate them at __heap_base, the host's memory.)
export function kmapOf(gsize: i32): usize { return gsize == 256 ? KMAP_256 : gsize == 512 ? KMAP_512 : KMAP_1024; }
export function neighOf(gsize: i32): usize { return gsize == 256 ? NEIGH_256 : gsize == 512 ? NEIGH_512 : NEIGH_1024; }
export function pkOf(gsize: i32): usize { return gsize == 256 ? PK_256 : gsize == 512 ? PK_512 : PK_1024; }
export function qfOf(gsize: i32): usize { return gsize == 256 ? QF_256 : gsize == 512 ? QF_512 : QF_1024; }

function build(
  grid: usize, gsize: i32, nwant: i32, kmap: usize, neigh: usize, pk: usize, qf: usize, cap: i32,
): void {
  memory.fill(kmap, 0xff, KMAP_SIZE * 4); // -1: not a grid point
  for (let g = 0; g < gsize; g++) {
    let c: i32 = 0;
    let p3: i32 = 1;
    let lv4: u64 = 0;
    for (let i = 0; i < 8; i++) {
      const b = <i32>load<u8>(grid + (<usize>g << 3) + i);
      const l: i32 = b == 8 ? 0 : b == 25 ? 1 : b == 43 ? 2 : -1;
      if (l < 0) unreachable();
      c += l * p3;
      p3 *= 3;
      lv4 |= (<u64>(4 * l)) << (8 * i);
      store<u8>(LT + (<usize>i << 10) + g, <u8>l);
      const q: i32 = 2 * l + 1;
      store<f32>(qf + (<usize>g << 5) + (<usize>i << 2), <f32>q);
    }
    store<i32>(kmap + (<usize>c << 2), g);
    store<u64>(LV4 + (<usize>g << 3), lv4);
  }
  // one call per key: V8 runs a long first call in its baseline tier, a
  // function called thousands of times gets optimized (two call sites keep
  // binaryen from inlining it back)
  let off = 0;
  for (let c = 0; c < 3280; c++) off = buildList(c, off, gsize, nwant, kmap, neigh, pk, cap);
  for (let c = 3280; c < KMAP_SIZE; c++) off = buildList(c, off, gsize, nwant, kmap, neigh, pk, cap);
  if (off != cap) unreachable();
}

/** Minimum of 16 unsigned bytes, in lane 0. */
// @ts-ignore: decorator
@inline function minU8(v: v128): v128 {
  v = i8x16.min_u(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  v = i8x16.min_u(v, i8x16.shuffle(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
  v = i8x16.min_u(v, i8x16.shuffle(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));
  return i8x16.min_u(v, i8x16.shuffle(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
}

/** Level of coordinate i in base-3 key c. */
function level(c: i32, i: i32): i32 {
  for (let k = 0; k < i; k++) c /= 3;
  return c % 3;
}

/** The neighbour list of key c (if off the grid) at u16 offset off; returns the next offset. */
function buildList(c: i32, off: i32, gsize: i32, nwant: i32, kmap: usize, neigh: usize, pk: usize, cap: i32): i32 {
  const sq = v128.load(SQ);
  const pc = kmap + (<usize>c << 2);
  if (load<i32>(pc) >= 0) return off;
  // squared level distances to every point, 16 points at a time
  // (ggml's (2l+1) coordinates give 4x these: the same order)
  let m1: i32 = 255;
  const c0 = i8x16.splat(<i8>level(c, 0)), c1 = i8x16.splat(<i8>level(c, 1));
  const c2 = i8x16.splat(<i8>level(c, 2)), c3 = i8x16.splat(<i8>level(c, 3));
  const c4 = i8x16.splat(<i8>level(c, 4)), c5 = i8x16.splat(<i8>level(c, 5));
  const c6 = i8x16.splat(<i8>level(c, 6)), c7 = i8x16.splat(<i8>level(c, 7));
  for (let g = 0; g < gsize; g += 16) {
    const lt = LT + g;
    let acc = i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt), c0)));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 1024), c1))));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 2048), c2))));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 3072), c3))));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 4096), c4))));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 5120), c5))));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 6144), c6))));
    acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(v128.load(lt, 7168), c7))));
    v128.store(DIST + g, acc);
    const m = <i32>i8x16.extract_lane_u(minU8(acc), 0);
    if (m < m1) m1 = m;
  }
  // the second smallest distinct distance (nwant = 2)
  let m2: i32 = 255;
  if (nwant == 2) {
    const above = i8x16.splat(<i8>m1);
    const none = i8x16.splat(-1);
    let mv = none;
    for (let g = 0; g < gsize; g += 16) {
      const v = v128.load(DIST + g);
      mv = i8x16.min_u(mv, v128.bitselect(v, none, i8x16.gt_u(v, above)));
    }
    m2 = <i32>i8x16.extract_lane_u(minU8(mv), 0);
  }
  store<i32>(pc, -(off + 1));
  const head = off;
  off += 4;
  let n = 0;
  let last: i32 = 0;
  for (let pass = 0; pass < nwant; pass++) {
    if (pass == 1 && m2 == 255) break;
    const want = i8x16.splat(<i8>(pass == 0 ? m1 : m2));
    for (let g = 0; g < gsize; g += 16) {
      let bits = i8x16.bitmask(i8x16.eq(v128.load(DIST + g), want));
      while (bits) {
        const j = g + <i32>ctz(bits);
        bits &= bits - 1;
        if (off >= cap) unreachable();
        store<u16>(neigh + (<usize>off << 1), <u16>j);
        off++;
        n++;
        last = j;
      }
    }
  }
  store<u16>(neigh + (<usize>head << 1), <u16>n);
  while (n & 3) {
    if (off >= cap) unreachable();
    store<u16>(neigh + (<usize>off << 1), <u16>last);
    off++;
    n++;
  }
  // the 4-lane search's operands: per group of 4 entries, byte 4i+j = 4*l_i of entry j
  for (let e = head + 4; e < off; e += 4) {
    const dst = pk + (<usize>e << 3);
    for (let j = 0; j < 4; j++) {
      const lv = load<u64>(LV4 + (<usize>load<u16>(neigh + (<usize>(e + j) << 1)) << 3));
      for (let i = 0; i < 8; i++) store<u8>(dst + 4 * i + j, <u8>(lv >> (8 * i)));
    }
  }
  return off;
}
