// Golden-vector helper shared by the codec tests: reads the llama.cpp reference
// outputs in ../shared/fixtures/golden and checks one case through the public
// quantize/dequantize API (bytes exactly, floats bit for bit).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { quantize, dequantize } from "../src/quant/index.js";

const GOLDEN = new URL("../../shared/fixtures/golden/", import.meta.url);

export interface GoldenCase {
  readonly type: string;
  readonly typeId: number;
  readonly rows: number;
  readonly cols: number;
  readonly distribution: string;
  readonly input: string;
  readonly imatrix: string | null;
  readonly quantized: string;
  readonly dequantized: string;
  readonly bytesPerRow: number;
  readonly blockSize: number;
  readonly typeSize: number;
  readonly extraType: boolean;
  /** Short name for test titles: TYPE dist imatrix. */
  readonly name: string;
}

interface RawCase {
  type: string;
  type_id: number;
  rows: number;
  cols: number;
  distribution: string;
  input: string;
  imatrix: string | null;
  quantized: string;
  dequantized: string;
  bytes_per_row: number;
  block_size: number;
  type_size: number;
  extra_type: boolean;
}

let manifest: RawCase[] | undefined;

function allCases(): RawCase[] {
  manifest ??= (JSON.parse(readFileSync(new URL("manifest.json", GOLDEN), "utf8")) as { cases: RawCase[] }).cases;
  return manifest;
}

/** Every golden case of a type (case-insensitive name). */
export function goldenCases(type: string): GoldenCase[] {
  const want = type.toUpperCase();
  return allCases()
    .filter((c) => c.type.toUpperCase() === want)
    .map((c) => ({
      type: c.type,
      typeId: c.type_id,
      rows: c.rows,
      cols: c.cols,
      distribution: c.distribution,
      input: c.input,
      imatrix: c.imatrix,
      quantized: c.quantized,
      dequantized: c.dequantized,
      bytesPerRow: c.bytes_per_row,
      blockSize: c.block_size,
      typeSize: c.type_size,
      extraType: c.extra_type,
      name: `${c.type} ${c.distribution} ${c.imatrix ? "imatrix " + c.imatrix.replace(/^.*imatrix_|_512\.f32$/g, "") : "no imatrix"}`,
    }));
}

/** Names of the types that have golden cases, optionally only core or only extra ones. */
export function goldenTypes(extra?: boolean): string[] {
  const s = new Set<string>();
  for (const c of allCases()) if (extra === undefined || c.extra_type === extra) s.add(c.type);
  return [...s];
}

export function goldenPath(rel: string): string {
  return fileURLToPath(new URL(rel, GOLDEN));
}

export function readGoldenBytes(rel: string): Uint8Array {
  const b = readFileSync(new URL(rel, GOLDEN));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function readGoldenF32(rel: string): Float32Array {
  const b = readGoldenBytes(rel);
  // Copy so the view is 4-byte aligned whatever Buffer pooling did.
  return new Float32Array(b.slice().buffer);
}

/** Describes the blocks where two byte strings differ, or undefined if equal. */
export function diffBlocks(got: Uint8Array, want: Uint8Array, blockBytes: number): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != expected ${want.length}`;
  let first = -1;
  let firstByte = -1;
  let count = 0;
  for (let b = 0; b * blockBytes < want.length; b++) {
    const off = b * blockBytes;
    for (let i = 0; i < blockBytes; i++) {
      if (got[off + i] !== want[off + i]) {
        if (first < 0) {
          first = b;
          firstByte = i;
        }
        count++;
        break;
      }
    }
  }
  if (count === 0) return undefined;
  const o = first * blockBytes + firstByte;
  return (
    `${count} of ${want.length / blockBytes} blocks differ; first: block ${first}, byte ${firstByte} ` +
    `(got 0x${got[o]!.toString(16)}, want 0x${want[o]!.toString(16)})`
  );
}

/** Describes where two float arrays differ bitwise (all NaNs count as equal), or undefined. */
export function diffFloats(got: Float32Array, want: Float32Array): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != expected ${want.length}`;
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let first = -1;
  let count = 0;
  for (let i = 0; i < w.length; i++) {
    if (g[i] === w[i]) continue;
    if (Number.isNaN(got[i]) && Number.isNaN(want[i])) continue;
    if (first < 0) first = i;
    count++;
  }
  if (count === 0) return undefined;
  return `${count} of ${w.length} floats differ; first at index ${first} (got ${got[first]}, want ${want[first]})`;
}

/**
 * Quantizes the case's input (with its imatrix) through the public API and
 * compares the bytes; dequantizes the golden bytes and compares the floats.
 */
export function checkGoldenCase(c: GoldenCase): void {
  const x = readGoldenF32(c.input);
  const imatrix = c.imatrix ? readGoldenF32(c.imatrix) : undefined;
  const want = readGoldenBytes(c.quantized);
  const got = quantize(c.type, x, c.rows, c.cols, imatrix);
  const qd = diffBlocks(got, want, c.typeSize);
  assert.equal(qd, undefined, `${c.name}: quantize: ${qd}`);
  const y = dequantize(c.type, want, c.rows, c.cols);
  const dd = diffFloats(y, readGoldenF32(c.dequantized));
  assert.equal(dd, undefined, `${c.name}: dequantize: ${dd}`);
}
