// Writes one tensor, dequantized, as f32bin or .npy, streaming row chunks so
// memory stays bounded by the chunk, not the tensor.
import { closeSync, openSync, writeSync } from "node:fs";
import { QuantscopeError, fileError } from "./errors.js";
import { F32BIN_HEADER_BYTES } from "./f32bin.js";
import { encodeNpy } from "./npy.js";
import type { TensorSource } from "./source.js";
import { expertRowRange } from "./experts.js";

const CHUNK_VALUES = 1 << 24; // 64 MiB of float32 per read

export type DumpFormat = "f32bin" | "npy";

export function dumpFormatFor(out: string): DumpFormat {
  const lower = out.toLowerCase();
  if (lower.endsWith(".npy")) return "npy";
  if (lower.endsWith(".f32bin")) return "f32bin";
  throw new QuantscopeError(`--out ${out}: the file name must end in .f32bin or .npy`);
}

/** Returns rows x cols written. With `expert`, only that expert's ne1 x ne0 slice of a 3-D tensor. */
export function dumpTensor(src: TensorSource, name: string, out: string, expert?: number): { rows: number; cols: number; bytes: number } {
  const fmt = dumpFormatFor(out);
  const t = src.tensor(name);
  const { start: first, count: rows } = expert === undefined ? { start: 0, count: t.rows } : expertRowRange(t, expert);
  const { cols } = t;
  let header: Buffer;
  if (fmt === "f32bin") {
    header = Buffer.alloc(F32BIN_HEADER_BYTES);
    header.writeBigInt64LE(BigInt(rows), 0);
    header.writeBigInt64LE(BigInt(cols), 8);
  } else {
    const full = encodeNpy({ rows, cols, data: new Float32Array(0) });
    header = full.subarray(0, full.length); // header only: data is empty
  }
  let fd: number;
  try {
    fd = openSync(out, "w");
  } catch (e) {
    throw fileError(out, `cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let bytes = 0;
  try {
    bytes += writeSync(fd, header);
    const step = Math.max(1, Math.floor(CHUNK_VALUES / Math.max(1, cols)));
    for (let r = 0; r < rows; r += step) {
      const m = src.readRows(t.name, first + r, Math.min(step, rows - r));
      const buf = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
        const le = Buffer.alloc(buf.length);
        for (let i = 0; i < m.data.length; i++) le.writeFloatLE(m.data[i]!, i * 4);
        bytes += writeSync(fd, le);
      } else {
        bytes += writeSync(fd, buf);
      }
    }
  } finally {
    closeSync(fd);
  }
  return { rows, cols, bytes };
}
