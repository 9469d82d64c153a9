// A Codec over a pair of WASM kernels (assembly/legacy*.ts ABI):
//   quantize_<k>(src, dst, nrows, ncols, imatrix|0), dequantize_<k>(src, dst, nfloats).
// Rows go through WASM memory in chunks of about QUANT_CHUNK_FLOATS so memory
// stays bounded and each chunk is still in cache when the kernel reads it.
import { QuantscopeError } from "../io/errors.js";
import { ggmlTypeByName, rowBytes } from "../ggml/types.js";
import type { Codec, ImatrixUse } from "./codec.js";
import { Arena, kernels } from "./wasm.js";

const QUANT_CHUNK_FLOATS = 1 << 16; // 256 KiB of f32: fits L2 with its output
const DEQUANT_CHUNK_FLOATS = 1 << 16;

/** Returns -1 (input screened, clean), UNCHECKED, or the index of a float in the first block holding NaN/Inf. */
type QuantKernel = (src: number, dst: number, rows: number, cols: number, imatrix: number) => number;
const UNCHECKED = -2;
/** Kernels return KERNEL_ABORTS - i where llama.cpp itself aborts (GGML_ASSERT) on the block holding float i. */
export const KERNEL_ABORTS = -3;
type DequantKernel = (src: number, dst: number, n: number) => void;
type FiniteCheck = (src: number, n: number) => number;

/** How a codec treats NaN/Inf input. */
export type NonFinitePolicy =
  /** Converted element-wise like ggml does (F16, BF16). */
  | "convert"
  /** Rejected with an error naming the row and column: ggml has no defined result. */
  | "reject";

export interface KernelCodecSpec {
  /** ggml type name, e.g. "Q4_0". */
  readonly name: string;
  readonly imatrix: ImatrixUse;
  /** Kernel suffix: quantize_<kernel> / dequantize_<kernel>. */
  readonly kernel: string;
  readonly nonFinite: NonFinitePolicy;
}

function kernelFn<T>(name: string): T {
  const f = kernels()[name];
  if (typeof f !== "function") throw new Error(`internal error: kernel ${name} missing from build/kernels.wasm`);
  return f as T;
}

function nonFiniteError(type: string, src: Float32Array, index: number, cols: number): QuantscopeError {
  const v = src[index]!;
  const what = Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  return new QuantscopeError(
    `${type}: input has ${what} at row ${Math.floor(index / cols)}, column ${index % cols}; ` +
      `ggml does not define quantization of NaN/Inf (clean the tensor, or use F16/BF16)`,
  );
}

/** The error for a block where ggml's own search fails and llama.cpp aborts (the result is undefined). */
export function kernelAbortError(type: string, index: number, cols: number): QuantscopeError {
  const info = ggmlTypeByName(type)!;
  const c = index % cols;
  return new QuantscopeError(
    `${type}: row ${Math.floor(index / cols)}, columns ${c}..${c + info.blockSize - 1}: ggml's search finds no ` +
      `grid point with a finite error (float overflow: the values are too large), and llama.cpp aborts on this input`,
  );
}

function firstNonFiniteFrom(src: Float32Array, from: number): number {
  for (let i = from; i < src.length; i++) if (!Number.isFinite(src[i])) return i;
  return from;
}

/** rows x cols f32 -> ggml blocks written into out (rows * rowBytes), chunk by chunk. */
export function quantizeWithKernel(
  spec: KernelCodecSpec, src: Float32Array, rows: number, cols: number, imatrix: Float32Array | undefined, out: Uint8Array,
): Uint8Array {
  const info = ggmlTypeByName(spec.name)!;
  const rb = rowBytes(info, cols);
  if (rows === 0) return out;
  const quant = kernelFn<QuantKernel>(`quantize_${spec.kernel}`);
  const check = spec.nonFinite === "reject" ? kernelFn<FiniteCheck>("firstNonFinite") : undefined;
  const chunkRows = Math.max(1, Math.min(rows, Math.floor(QUANT_CHUNK_FLOATS / cols)));
  const arena = new Arena();
  const pIm = imatrix ? arena.alloc(cols * 4) : 0;
  const pSrc = arena.alloc(chunkRows * cols * 4);
  const pDst = arena.alloc(chunkRows * rb);
  if (imatrix) arena.f32(pIm, cols).set(imatrix);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, rows - r0);
    arena.f32(pSrc, n * cols).set(src.subarray(r0 * cols, (r0 + n) * cols));
    let bad = quant(pSrc, pDst, n, cols, pIm);
    if (bad <= KERNEL_ABORTS) throw kernelAbortError(spec.name, r0 * cols + KERNEL_ABORTS - bad, cols);
    if (bad === UNCHECKED) bad = check ? check(pSrc, n * cols) : -1;
    if (bad >= 0 && check) throw nonFiniteError(spec.name, src, firstNonFiniteFrom(src, r0 * cols + bad), cols);
    out.set(arena.u8(pDst, n * rb), r0 * rb);
  }
  return out;
}

/** ggml blocks -> f32 written into out (rows * cols), chunk by chunk. */
export function dequantizeWithKernel(
  spec: KernelCodecSpec, bytes: Uint8Array, rows: number, cols: number, out: Float32Array,
): Float32Array {
  const info = ggmlTypeByName(spec.name)!;
  const n = rows * cols;
  if (n === 0) return out;
  const dequant = kernelFn<DequantKernel>(`dequantize_${spec.kernel}`);
  const nblocks = n / info.blockSize;
  const chunkBlocks = Math.max(1, Math.min(nblocks, Math.floor(DEQUANT_CHUNK_FLOATS / info.blockSize)));
  const arena = new Arena();
  const pSrc = arena.alloc(chunkBlocks * info.typeSize);
  const pDst = arena.alloc(chunkBlocks * info.blockSize * 4);
  for (let b0 = 0; b0 < nblocks; b0 += chunkBlocks) {
    const nb = Math.min(chunkBlocks, nblocks - b0);
    arena.u8(pSrc, nb * info.typeSize).set(bytes.subarray(b0 * info.typeSize, (b0 + nb) * info.typeSize));
    dequant(pSrc, pDst, nb * info.blockSize);
    out.set(arena.f32(pDst, nb * info.blockSize), b0 * info.blockSize);
  }
  return out;
}

/** A codec over quantize_<kernel> / dequantize_<kernel>; WASM loads on first use. */
export function kernelCodec(spec: KernelCodecSpec): Codec {
  const info = ggmlTypeByName(spec.name);
  if (!info) throw new Error(`internal error: unknown ggml type ${spec.name}`);
  return {
    info,
    imatrix: spec.imatrix,
    quantize: (src, rows, cols, im) =>
      quantizeWithKernel(spec, src, rows, cols, im, new Uint8Array(rows * rowBytes(info, cols))),
    dequantize: (bytes, rows, cols) => dequantizeWithKernel(spec, bytes, rows, cols, new Float32Array(rows * cols)),
    quantizeInto: (src, rows, cols, im, out) => quantizeWithKernel(spec, src, rows, cols, im, out),
    dequantizeInto: (bytes, rows, cols, out) => dequantizeWithKernel(spec, bytes, rows, cols, out),
  };
}
