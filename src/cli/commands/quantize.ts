// `quantscope quantize`, `quantscope dequantize` and `quantscope types`: raw
// little-endian files in and out (like the golden vectors), for scripts and checks.
import type { Command } from "commander";
import { closeSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { fileError, QuantscopeError } from "../../io/errors.js";
import { dequantize, quantizedSize, supportedTypes, typeInfo } from "../../quant/index.js";
import { quantizeParallel } from "../../quant/parallel.js";

function positiveInt(flag: string, v: string): number {
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v)) || Number(v) <= 0) {
    throw new QuantscopeError(`${flag} must be a positive integer, got "${v}"`);
  }
  return Number(v);
}

/** Reads a whole raw file after checking its size is exactly `bytes` (so no header-driven allocation). */
function readExact(path: string, bytes: number, what: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw fileError(path, "not a regular file");
    size = st.size;
  } catch (e) {
    if (e instanceof QuantscopeError) throw e;
    throw fileError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size !== bytes) throw fileError(path, `${size} bytes, but ${what} needs ${bytes} bytes`);
  const buf = new Uint8Array(new ArrayBuffer(bytes));
  const fd = openSync(path, "r");
  try {
    let off = 0;
    while (off < bytes) {
      const n = readSync(fd, buf, off, bytes - off, off);
      if (n <= 0) throw fileError(path, "file shrank while reading", off);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

function readF32(path: string, count: number, what: string): Float32Array {
  const b = readExact(path, count * 4, what);
  return new Float32Array(b.buffer, 0, count); // little-endian hosts only, like ggml's files
}

function writeOut(path: string, data: ArrayBufferView): void {
  try {
    writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } catch (e) {
    throw fileError(path, `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

interface ShapeOpts {
  type: string;
  rows: string;
  cols: string;
  in: string;
  out: string;
}

function shape(opts: ShapeOpts): { type: string; rows: number; cols: number } {
  const info = typeInfo(opts.type); // unknown / unsupported type -> one-line error
  const rows = positiveInt("--rows", opts.rows);
  const cols = positiveInt("--cols", opts.cols);
  quantizedSize(info.name, rows, cols); // row length vs block size
  return { type: info.name, rows, cols };
}

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("Quantize a raw float32 matrix (rows x cols, little-endian) to ggml block bytes, exactly as llama.cpp does")
    .requiredOption("--type <type>", "ggml type, e.g. Q4_0, Q4_K, IQ4_XS (see `quantscope types`)")
    .requiredOption("--rows <n>", "number of rows")
    .requiredOption("--cols <n>", "row length (a multiple of the type's block size)")
    .requiredOption("--in <file>", "raw float32 input, rows*cols values")
    .option("--imatrix <file>", "raw float32 importance matrix, one value per column")
    .requiredOption("--out <file>", "output: raw ggml blocks, rows concatenated")
    .option("--threads <n>", "worker threads (default: all cores)")
    .action(async (opts: ShapeOpts & { imatrix?: string; threads?: string }) => {
      const { type, rows, cols } = shape(opts);
      const info = typeInfo(type);
      if (info.imatrix === "required" && !opts.imatrix) throw new QuantscopeError(`${type} requires --imatrix`);
      const x = readF32(opts.in, rows * cols, `${rows}x${cols} float32`);
      const w = opts.imatrix ? readF32(opts.imatrix, cols, `an imatrix of ${cols} columns`) : undefined;
      const threads = opts.threads !== undefined ? positiveInt("--threads", opts.threads) : undefined;
      const q = await quantizeParallel(type, x, rows, cols, w, threads);
      writeOut(opts.out, q);
      const note = w && info.imatrix === "ignored" ? " (imatrix ignored by this type)" : "";
      process.stdout.write(`${opts.out}: ${type} ${rows}x${cols}, ${q.length} bytes, ${info.bitsPerWeight} bpw${note}\n`);
    });

  program
    .command("dequantize")
    .description("Dequantize raw ggml block bytes (rows x cols of a type) to raw float32, exactly as ggml's to_float")
    .requiredOption("--type <type>", "ggml type of the blocks")
    .requiredOption("--rows <n>", "number of rows")
    .requiredOption("--cols <n>", "row length in weights")
    .requiredOption("--in <file>", "raw ggml blocks")
    .requiredOption("--out <file>", "output: raw float32, rows*cols values")
    .action((opts: ShapeOpts) => {
      const { type, rows, cols } = shape(opts);
      const bytes = readExact(opts.in, quantizedSize(type, rows, cols), `${rows}x${cols} of ${type}`);
      const y = dequantize(type, bytes, rows, cols);
      writeOut(opts.out, y);
      process.stdout.write(`${opts.out}: ${rows}x${cols} float32 from ${type}\n`);
    });

  program
    .command("types")
    .description("List the ggml types quantscope can quantize and dequantize")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      const infos = supportedTypes().map((t) => typeInfo(t));
      if (opts.json) {
        process.stdout.write(JSON.stringify(infos, null, 2) + "\n");
        return;
      }
      const rows = [["type", "id", "block", "bytes", "bpw", "imatrix"]];
      for (const i of infos) {
        rows.push([i.name, String(i.id), String(i.blockSize), String(i.typeSize), String(+i.bitsPerWeight.toFixed(4)), i.imatrix]);
      }
      const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) {
        process.stdout.write(r.map((v, c) => (c === 0 || c === 5 ? v.padEnd(w[c]!) : v.padStart(w[c]!))).join("  ").trimEnd() + "\n");
      }
    });
}
