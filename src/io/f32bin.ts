// f32bin: int64 nrow, int64 ncol (little-endian), then nrow*ncol float32 LE,
// row-major. Rows are output features for weights and tokens for activations.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { fileError } from "./errors.js";

export const F32BIN_HEADER_BYTES = 16;

/** A dense float32 matrix, row-major. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

export interface F32BinHeader {
  readonly rows: number;
  readonly cols: number;
}

/** Checks an f32bin header against the file size; throws a one-line error naming the file. */
export function validateF32BinHeader(file: string, header: Buffer, fileSize: number): F32BinHeader {
  if (fileSize < F32BIN_HEADER_BYTES) {
    throw fileError(file, `truncated header: file has ${fileSize} bytes, an f32bin header needs 16`, 0, "header");
  }
  const nrow = header.readBigInt64LE(0);
  const ncol = header.readBigInt64LE(8);
  if (nrow <= 0n) throw fileError(file, `nrow must be > 0, got ${nrow}`, 0, "nrow");
  if (ncol <= 0n) throw fileError(file, `ncol must be > 0, got ${ncol}`, 8, "ncol");
  const payload = BigInt(fileSize - F32BIN_HEADER_BYTES);
  const need = nrow * ncol * 4n;
  if (nrow * ncol > BigInt(Number.MAX_SAFE_INTEGER) || need > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw fileError(file, `nrow*ncol = ${nrow}*${ncol} is too large (header corrupt?)`, 0, "header");
  }
  if (need > payload) {
    throw fileError(
      file,
      `truncated: header says ${nrow}x${ncol} (${need} data bytes) but the file holds ${payload}`,
      F32BIN_HEADER_BYTES,
      "data",
    );
  }
  if (need < payload) {
    throw fileError(
      file,
      `${payload - need} bytes beyond the ${nrow}x${ncol} matrix the header describes (wrong header or not an f32bin file)`,
      F32BIN_HEADER_BYTES + Number(need),
      "data",
    );
  }
  return { rows: Number(nrow), cols: Number(ncol) };
}

function readFully(fd: number, buf: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), position + done);
    if (n === 0) throw fileError(file, "unexpected end of file", position + done);
    done += n;
  }
}

/** Reads just the header of an f32bin file (validated against its size). */
export function readF32BinHeader(file: string): F32BinHeader {
  const fd = openOrThrow(file);
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(F32BIN_HEADER_BYTES);
    if (size >= F32BIN_HEADER_BYTES) readFully(fd, head, 0, file);
    return validateF32BinHeader(file, head, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads an f32bin file, or rows [rowStart, rowStart+rowCount) of it.
 * Values are taken as little-endian whatever the host order.
 */
export function readF32Bin(file: string, rowStart = 0, rowCount?: number): Matrix {
  const fd = openOrThrow(file);
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(F32BIN_HEADER_BYTES);
    if (size >= F32BIN_HEADER_BYTES) readFully(fd, head, 0, file);
    const { rows, cols } = validateF32BinHeader(file, head, size);
    const count = rowCount ?? rows - rowStart;
    if (rowStart < 0 || count < 0 || rowStart + count > rows) {
      throw fileError(file, `row range ${rowStart}..${rowStart + count} is outside 0..${rows}`);
    }
    const data = new Float32Array(count * cols);
    readFully(fd, new Uint8Array(data.buffer), F32BIN_HEADER_BYTES + rowStart * cols * 4, file);
    if (BIG_ENDIAN_HOST) swapBytes32(new Uint8Array(data.buffer));
    return { rows: count, cols, data };
  } finally {
    closeSync(fd);
  }
}

/** Writes a matrix as f32bin (little-endian). */
export function encodeF32Bin(m: Matrix): Buffer {
  const out = Buffer.alloc(F32BIN_HEADER_BYTES + m.data.length * 4);
  out.writeBigInt64LE(BigInt(m.rows), 0);
  out.writeBigInt64LE(BigInt(m.cols), 8);
  for (let i = 0; i < m.data.length; i++) out.writeFloatLE(m.data[i]!, F32BIN_HEADER_BYTES + i * 4);
  return out;
}

const BIG_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

function swapBytes32(b: Uint8Array): void {
  for (let i = 0; i + 3 < b.length; i += 4) {
    const t0 = b[i]!, t1 = b[i + 1]!;
    b[i] = b[i + 3]!; b[i + 1] = b[i + 2]!; b[i + 2] = t1; b[i + 3] = t0;
  }
}

function openOrThrow(file: string): number {
  try {
    return openSync(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(file, code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, expected a file" : `cannot open (${code ?? String(e)})`);
  }
}
