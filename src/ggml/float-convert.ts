// Exact conversions of the stored float formats to float32, done here rather
// than through the codec registry because every reader needs them and they
// are lossless bit manipulations.

import { newKernelInstance, type KernelExports } from "../quant/wasm.js";

let F16_TABLE: Float32Array | undefined;

/** All 65536 half-precision values as float32 (exact), built once. */
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfToFloat(h);
  F16_TABLE = t;
  return t;
}

/** IEEE binary16 bits -> number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** Reads little-endian values regardless of the host's byte order. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian F32 bytes -> Float32Array (copies so the result is aligned and owned). */
export function f32FromBytes(bytes: Uint8Array, into?: Float32Array): Float32Array {
  const n = bytes.length >>> 2;
  const out = into ?? new Float32Array(n);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer, out.byteOffset, n * 4).set(bytes.subarray(0, n * 4));
  } else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  }
  return out;
}

// Large F16 arrays (model weights) are decoded by the SIMD kernel (ggml's exact fp16 -> fp32 bit
// operations), several times faster than the table; its own instance, so no caller's scratch
// memory in the shared one is touched.
let f16Kernel: { k: KernelExports; decode: (src: number, dst: number, n: number) => void; base: number } | undefined;
const F16_SLICE = 1 << 20;

function f16FromBytesWasm(bytes: Uint8Array, out: Float32Array, n: number): void {
  if (!f16Kernel) {
    const k = newKernelInstance();
    f16Kernel = { k, decode: k["dequantize_f16"] as (src: number, dst: number, n: number) => void, base: (k.heapBase() + 15) & ~15 };
  }
  const { k, decode, base } = f16Kernel;
  const dst = base + 2 * F16_SLICE, end = dst + 4 * F16_SLICE;
  if (k.memory.buffer.byteLength < end) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
  const mem = k.memory.buffer;
  for (let i = 0; i < n; i += F16_SLICE) {
    const m = Math.min(F16_SLICE, n - i);
    new Uint8Array(mem, base, 2 * m).set(bytes.subarray(2 * i, 2 * (i + m)));
    decode(base, dst, m);
    out.set(new Float32Array(mem, dst, m), i);
  }
}

/** Little-endian F16 bytes -> Float32Array (exact; every half NaN becomes a float32 NaN). */
export function f16FromBytes(bytes: Uint8Array, into?: Float32Array): Float32Array {
  const n = bytes.length >>> 1;
  const out = into ?? new Float32Array(n);
  if (LITTLE_ENDIAN_HOST && n >= 65536) {
    f16FromBytesWasm(bytes, out, n);
    return out;
  }
  const t = f16Table();
  if (LITTLE_ENDIAN_HOST && (bytes.byteOffset & 1) === 0) {
    const h = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = t[h[i]!]!;
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = t[bytes[j]! | (bytes[j + 1]! << 8)]!;
  }
  return out;
}

/** Little-endian BF16 bytes -> Float32Array (bf16 is the top half of an f32, so this is exact). */
export function bf16FromBytes(bytes: Uint8Array, into?: Float32Array): Float32Array {
  const n = bytes.length >>> 1;
  const out = into ?? new Float32Array(n);
  const bits = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0, j = 0; i < n; i++, j += 2) bits[i] = ((bytes[j]! | (bytes[j + 1]! << 8)) << 16) >>> 0;
  return out;
}

/** float32 -> IEEE half bits, round to nearest even (for writing .npy float16). */
export function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const w = new Uint32Array(f.buffer)[0]!;
  const sign = (w >>> 16) & 0x8000;
  const exp = (w >>> 23) & 0xff;
  let mant = w & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}
