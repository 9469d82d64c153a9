// Zero-copy quantization: a private kernel instance whose linear memory holds
// the caller's arrays, so kernels read the input and write the output in
// place (the plain API copies through WASM memory in chunks). For callers that
// stream many tensors through the same buffers, and for the benchmark, which
// then measures what llama.cpp's C harness measures.
import { QuantscopeError } from "../io/errors.js";
import { rowBytes } from "../ggml/types.js";
import { codecFor, quantizedSize } from "./index.js";
import { LEGACY_SPECS } from "./codecs/legacy.js";
import { newKernelInstance, type KernelExports } from "./wasm.js";
import { KERNEL_ABORTS, kernelAbortError } from "./kernelCodec.js";

type QuantKernel = (src: number, dst: number, rows: number, cols: number, imatrix: number) => number;
type DequantKernel = (src: number, dst: number, n: number) => void;
type FiniteCheck = (src: number, n: number) => number;

const PAGE = 65536;
/** Kernels whose -1 result means "input screened, no NaN/Inf" (assembly/legacy_check.ts). */
const SCREENING = new Set(LEGACY_SPECS.map((s) => s.name));
const CONVERTING = new Set(LEGACY_SPECS.filter((s) => s.nonFinite === "convert").map((s) => s.name));

export class KernelWorkspace {
  private readonly k: KernelExports;
  private top: number;
  private readonly end: number;

  /** A workspace able to hold `capacityBytes` of arrays (allocated up front, so views never detach). */
  constructor(capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw new QuantscopeError(`invalid workspace size ${capacityBytes}`);
    this.k = newKernelInstance();
    this.top = (this.k.heapBase() + 15) & ~15;
    this.end = this.top + capacityBytes + 64 * 1024; // + room for an imatrix copy
    const have = this.k.memory.buffer.byteLength;
    if (this.end > 65536 * PAGE) throw new QuantscopeError(`workspace of ${capacityBytes} bytes exceeds the 4 GiB WASM limit`);
    if (this.end > have) this.k.memory.grow(Math.ceil((this.end - have) / PAGE));
  }

  private alloc(nbytes: number): number {
    const p = this.top;
    const next = p + ((nbytes + 15) & ~15);
    if (next > this.end) throw new QuantscopeError(`workspace full: ${nbytes} more bytes do not fit`);
    this.top = next;
    return p;
  }

  /** n floats inside the workspace (zeroed once, then reused as the caller likes). */
  floats(n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, this.alloc(n * 4), n);
  }

  bytes(n: number): Uint8Array {
    return new Uint8Array(this.k.memory.buffer, this.alloc(n), n);
  }

  private owned(a: ArrayBufferView, what: string): number {
    if (a.buffer !== this.k.memory.buffer) throw new QuantscopeError(`${what} is not an array of this workspace`);
    return a.byteOffset;
  }

  private fn<T>(name: string): T {
    const f = this.k[name];
    if (typeof f !== "function") throw new Error(`internal error: kernel ${name} missing from build/kernels.wasm`);
    return f as T;
  }

  /** quantizeInto() with src, out (and optionally imatrix) living in this workspace; same bytes. */
  quantize(type: string, src: Float32Array, rows: number, cols: number, out: Uint8Array, imatrix?: Float32Array): Uint8Array {
    const c = codecFor(type);
    const size = quantizedSize(c.info.name, rows, cols);
    if (src.length !== rows * cols) throw new QuantscopeError(`${c.info.name}: ${rows}x${cols} needs ${rows * cols} floats, got ${src.length}`);
    if (out.length !== size) throw new QuantscopeError(`${c.info.name}: output has ${out.length} bytes, expected ${size}`);
    if (imatrix && imatrix.length !== cols) throw new QuantscopeError(`${c.info.name}: imatrix has ${imatrix.length} values, expected ${cols}`);
    if (c.imatrix === "required" && !imatrix) throw new QuantscopeError(`${c.info.name} requires an importance matrix (imatrix)`);
    const pSrc = this.owned(src, "src");
    const pOut = this.owned(out, "out");
    const mark = this.top;
    try {
      let pIm = 0;
      const im = c.imatrix === "ignored" ? undefined : imatrix;
      if (im) {
        if (im.some((v) => !Number.isFinite(v))) throw new QuantscopeError(`${c.info.name}: imatrix has a non-finite value`);
        if (im.buffer === this.k.memory.buffer) pIm = im.byteOffset;
        else {
          pIm = this.alloc(cols * 4);
          new Float32Array(this.k.memory.buffer, pIm, cols).set(im);
        }
      }
      const r = this.fn<QuantKernel>(`quantize_${c.info.name.toLowerCase()}`)(pSrc, pOut, rows, cols, pIm);
      if (r <= KERNEL_ABORTS) throw kernelAbortError(c.info.name, KERNEL_ABORTS - r, cols);
      if (!CONVERTING.has(c.info.name) && !(r === -1 && SCREENING.has(c.info.name))) {
        const bad = this.fn<FiniteCheck>("firstNonFinite")(pSrc, rows * cols);
        if (bad >= 0) {
          const v = src[bad]!;
          const what = Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
          throw new QuantscopeError(`${c.info.name}: input has ${what} at row ${Math.floor(bad / cols)}, column ${bad % cols}; ggml does not define quantization of NaN/Inf`);
        }
      }
    } finally {
      this.top = mark;
    }
    return out;
  }

  /** dequantizeInto() with bytes and out living in this workspace; same floats. */
  dequantize(type: string, bytes: Uint8Array, rows: number, cols: number, out: Float32Array): Float32Array {
    const c = codecFor(type);
    const size = quantizedSize(c.info.name, rows, cols);
    if (bytes.length !== size) throw new QuantscopeError(`${c.info.name}: ${rows}x${cols} needs ${rows * rowBytes(c.info, cols)} bytes, got ${bytes.length}`);
    if (out.length !== rows * cols) throw new QuantscopeError(`${c.info.name}: output has ${out.length} floats, expected ${rows * cols}`);
    this.fn<DequantKernel>(`dequantize_${c.info.name.toLowerCase()}`)(this.owned(bytes, "bytes"), this.owned(out, "out"), rows * cols);
    return out;
  }
}
