// Row-chunked driver shared by the K-quant codecs: copies a slab of rows into
// WASM memory, runs the kernel, copies the result out. Chunks keep the WASM
// heap small (a few MB whatever the tensor size) and the working set in cache.
import type { Codec, ImatrixUse } from "../codec.js";
import { ggmlTypeByName, type GgmlTypeInfo } from "../../ggml/types.js";
import { Arena, kernels } from "../wasm.js";

/** Floats per quantize chunk / per dequantize chunk (multiples of 256). */
const QUANT_CHUNK_FLOATS = 1 << 18;
const DEQUANT_CHUNK_FLOATS = 1 << 16;

type QuantKernel = (src: number, dst: number, rows: number, cols: number, imatrix: number) => void;
type DequantKernel = (src: number, dst: number, nblocks: number) => void;

/** Kernel export names of one K-quant type. */
export interface KKernelNames {
  readonly quantize: string;
  readonly dequantize: string;
}

export function kernelFn<T>(name: string): T {
  const f = kernels()[name];
  if (typeof f !== "function") throw new Error(`internal error: kernel ${name} missing from build/kernels.wasm`);
  return f as T;
}

/** rows x cols f32 -> blocks through a quantize kernel, in row chunks. */
export function quantizeRows(
  info: GgmlTypeInfo, kernel: QuantKernel, src: Float32Array, rows: number, cols: number, imatrix?: Float32Array,
): Uint8Array {
  const rowBytes = (cols / info.blockSize) * info.typeSize;
  const out = new Uint8Array(rows * rowBytes);
  if (rows === 0) return out;
  const chunkRows = Math.max(1, Math.min(rows, Math.floor(QUANT_CHUNK_FLOATS / cols)));
  const arena = new Arena();
  const pIm = imatrix ? arena.alloc(cols * 4) : 0;
  const pSrc = arena.alloc(chunkRows * cols * 4);
  const pDst = arena.alloc(chunkRows * rowBytes);
  if (imatrix) arena.f32(pIm, cols).set(imatrix);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, rows - r0);
    arena.f32(pSrc, n * cols).set(src.subarray(r0 * cols, (r0 + n) * cols));
    kernel(pSrc, pDst, n, cols, pIm);
    out.set(arena.u8(pDst, n * rowBytes), r0 * rowBytes);
  }
  return out;
}

/** blocks -> f32 through a dequantize kernel, in chunks of blocks. */
export function dequantizeBlocks(
  info: GgmlTypeInfo, kernel: DequantKernel, bytes: Uint8Array, rows: number, cols: number,
): Float32Array {
  const n = rows * cols;
  const out = new Float32Array(n);
  const nblocks = n / info.blockSize;
  const chunkBlocks = Math.max(1, Math.floor(DEQUANT_CHUNK_FLOATS / info.blockSize));
  const arena = new Arena();
  const pSrc = arena.alloc(chunkBlocks * info.typeSize);
  const pDst = arena.alloc(chunkBlocks * info.blockSize * 4);
  for (let b0 = 0; b0 < nblocks; b0 += chunkBlocks) {
    const nb = Math.min(chunkBlocks, nblocks - b0);
    arena.u8(pSrc, nb * info.typeSize).set(bytes.subarray(b0 * info.typeSize, (b0 + nb) * info.typeSize));
    kernel(pSrc, pDst, nb);
    out.set(arena.f32(pDst, nb * info.blockSize), b0 * info.blockSize);
  }
  return out;
}

/** A K-quant codec over a pair of kernels (looked up lazily, so importing never loads WASM). */
export function kCodec(name: string, names: KKernelNames, imatrix: ImatrixUse = "optional"): Codec {
  const info = ggmlTypeByName(name);
  if (!info) throw new Error(`internal error: unknown ggml type ${name}`);
  return {
    info,
    imatrix,
    quantize: (src, rows, cols, im) => quantizeRows(info, kernelFn<QuantKernel>(names.quantize), src, rows, cols, im),
    dequantize: (bytes, rows, cols) => dequantizeBlocks(info, kernelFn<DequantKernel>(names.dequantize), bytes, rows, cols),
  };
}
