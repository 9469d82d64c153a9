// Positioned reads from a file that is never loaded whole. Every read is
// checked against the file size first, so a corrupt offset becomes a
// one-line error naming the field instead of a short read or a huge buffer.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { fileError } from "./errors.js";

/** Largest single read we will allocate for (2 GiB - 1, Node's Buffer limit). */
export const MAX_READ_BYTES = 0x7fffffff;

export class PositionedFile {
  readonly path: string;
  readonly size: number;
  private fd: number | undefined;

  constructor(path: string) {
    this.path = path;
    this.fd = openOrThrow(path);
    try {
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      closeSync(this.fd);
      throw fileError(path, `cannot stat (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }

  /** Bytes [pos, pos+len) into `into` (or a new buffer); `field` names what is being read for errors. */
  read(pos: number, len: number, field: string, into?: Uint8Array): Uint8Array {
    if (this.fd === undefined) throw fileError(this.path, "file already closed");
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(len) || pos < 0 || len < 0) {
      throw fileError(this.path, `invalid read range ${pos}+${len}`, pos, field);
    }
    if (pos + len > this.size) {
      throw fileError(this.path, `needs bytes ${pos}..${pos + len} but the file has ${this.size} (truncated or corrupt)`, pos, field);
    }
    if (len > MAX_READ_BYTES) {
      throw fileError(this.path, `${len} bytes is too large to read at once (read fewer rows)`, pos, field);
    }
    const buf = into ?? new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const n = readSync(this.fd, buf, done, Math.min(len - done, 1 << 30), pos + done);
      if (n === 0) throw fileError(this.path, "unexpected end of file", pos + done, field);
      done += n;
    }
    return buf;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export function openOrThrow(file: string): number {
  try {
    return openSync(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(
      file,
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, expected a file" : code === "EACCES" ? "permission denied" : `cannot open (${code ?? String(e)})`,
    );
  }
}

/**
 * Sequential little-endian reader over a PositionedFile for headers, buffered
 * in windows so a header of any size costs a few reads, and bounds-checked
 * against the file size before every access.
 */
export class HeaderCursor {
  pos: number;
  private readonly file: PositionedFile;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private static readonly WINDOW = 1 << 16;

  constructor(file: PositionedFile, pos = 0) {
    this.file = file;
    this.pos = pos;
  }

  get remaining(): number {
    return this.file.size - this.pos;
  }

  get path(): string {
    return this.file.path;
  }

  /** Makes bytes [pos, pos+n) available in the window; returns the window offset. */
  private need(n: number, field: string): number {
    if (n > this.remaining) {
      throw fileError(this.file.path, `needs ${n} bytes but only ${Math.max(0, this.remaining)} remain (truncated or corrupt)`, this.pos, field);
    }
    const off = this.pos - this.bufStart;
    if (off >= 0 && off + n <= this.buf.length) return off;
    const len = Math.min(Math.max(n, HeaderCursor.WINDOW), this.file.size - this.pos);
    this.buf = Buffer.from(this.file.read(this.pos, len, field).buffer, 0, len);
    this.bufStart = this.pos;
    return 0;
  }

  u8(field: string): number { const o = this.need(1, field); this.pos += 1; return this.buf.readUInt8(o); }
  i8(field: string): number { const o = this.need(1, field); this.pos += 1; return this.buf.readInt8(o); }
  u16(field: string): number { const o = this.need(2, field); this.pos += 2; return this.buf.readUInt16LE(o); }
  i16(field: string): number { const o = this.need(2, field); this.pos += 2; return this.buf.readInt16LE(o); }
  u32(field: string): number { const o = this.need(4, field); this.pos += 4; return this.buf.readUInt32LE(o); }
  i32(field: string): number { const o = this.need(4, field); this.pos += 4; return this.buf.readInt32LE(o); }
  f32(field: string): number { const o = this.need(4, field); this.pos += 4; return this.buf.readFloatLE(o); }
  f64(field: string): number { const o = this.need(8, field); this.pos += 8; return this.buf.readDoubleLE(o); }
  u64(field: string): bigint { const o = this.need(8, field); this.pos += 8; return this.buf.readBigUInt64LE(o); }
  i64(field: string): bigint { const o = this.need(8, field); this.pos += 8; return this.buf.readBigInt64LE(o); }

  /** n raw bytes (n already checked by the caller against what is sensible). */
  bytes(n: number, field: string): Buffer {
    const o = this.need(n, field);
    this.pos += n;
    return this.buf.subarray(o, o + n);
  }

  /** Skips n bytes (checked against the file size). */
  skip(n: number, field: string): void {
    if (n > this.remaining) {
      throw fileError(this.file.path, `needs ${n} bytes but only ${Math.max(0, this.remaining)} remain (truncated or corrupt)`, this.pos, field);
    }
    this.pos += n;
  }
}
