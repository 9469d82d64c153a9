// Streams an f32bin weight in row chunks through one small reusable buffer, so
// a fused scan can pass over a 100 MB tensor twice (the second read comes
// from the page cache) while holding only a few MB.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { F32BIN_HEADER_BYTES, readF32Bin, validateF32BinHeader } from "../../io/f32bin.js";

export interface RowChunks {
  readonly rows: number;
  readonly cols: number;
  /** Most rows in one chunk. */
  readonly chunkRows: number;
  /**
   * Consecutive row blocks; each `data` is only valid until the next step.
   * (An iterator, not a callback: accumulators in the caller's loop stay local
   * variables; captured by a closure they would be several times slower in V8.)
   * `into` (at least chunkRows × cols floats) receives the rows instead of the shared buffer,
   * e.g. a WASM kernel's memory.
   */
  chunks(into?: Float32Array): Generator<RowChunk>;
}

export interface RowChunk {
  readonly data: Float32Array;
  readonly row0: number;
  readonly nRows: number;
}

const CHUNK_BYTES = 1 << 20; // small: held once in JS and once in each thread's WASM memory
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let buffer = new Float32Array(0);

/** Opens an f32bin file for chunked reading (header validated up front, like readF32Bin). */
export function f32binChunks(path: string): RowChunks {
  let fd: number;
  try { fd = openSync(path, "r"); } catch { readF32Bin(path); throw new Error("unreachable"); } // readF32Bin words the error
  let rows: number, cols: number;
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(F32BIN_HEADER_BYTES);
    if (size >= F32BIN_HEADER_BYTES) readSync(fd, head, 0, F32BIN_HEADER_BYTES, 0);
    ({ rows, cols } = validateF32BinHeader(path, head, size));
  } finally {
    closeSync(fd);
  }
  const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (cols * 4)));
  return {
    rows,
    cols,
    chunkRows: LITTLE_ENDIAN_HOST ? Math.min(chunkRows, rows) : rows,
    *chunks(into?: Float32Array) {
      if (!LITTLE_ENDIAN_HOST) {
        const m = readF32Bin(path);
        if (into) into.set(m.data);
        yield { data: into ? into.subarray(0, m.data.length) : m.data, row0: 0, nRows: rows };
        return;
      }
      if (!into && buffer.length < chunkRows * cols) buffer = new Float32Array(chunkRows * cols);
      const target = into ?? buffer;
      const fd2 = openSync(path, "r");
      try {
        for (let r0 = 0; r0 < rows; r0 += chunkRows) {
          const nr = Math.min(chunkRows, rows - r0);
          const view = target.subarray(0, nr * cols);
          const bytes = new Uint8Array(view.buffer, view.byteOffset, nr * cols * 4);
          for (let done = 0; done < bytes.length;) {
            const k = readSync(fd2, bytes, done, bytes.length - done, F32BIN_HEADER_BYTES + r0 * cols * 4 + done);
            if (k === 0) { readF32Bin(path); throw new Error(`${path}: changed while being read`); }
            done += k;
          }
          yield { data: view, row0: r0, nRows: nr };
        }
      } finally {
        closeSync(fd2);
      }
    },
  };
}
