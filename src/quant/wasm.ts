// Loads build/kernels.wasm (compiled from assembly/ by `npm run build:wasm`)
// once per thread, and hands out scratch memory inside it. Kernels run in
// WASM because its f32 arithmetic matches llama.cpp's reference C bit for bit
// (no FMA, strict order) at C speed; see assembly/index.ts.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { fileURLToPath } from "node:url";
import { QuantscopeError } from "../io/errors.js";

/** The raw exports of the kernel module; kernels are looked up by name. */
export type KernelExports = Record<string, unknown> & {
  memory: WebAssembly.Memory;
  heapBase(): number;
};

let instance: KernelExports | undefined;
let compiled: WebAssembly.Module | undefined;

const WASM_URL = new URL("../../build/kernels.wasm", import.meta.url);

function kernelModule(): WebAssembly.Module {
  if (compiled) return compiled;
  let bytes: Buffer;
  try {
    bytes = readFileSync(WASM_URL);
  } catch {
    throw new QuantscopeError(
      `${fileURLToPath(WASM_URL)}: kernel module not found; run \`npm run build\` first`,
    );
  }
  // Compile every kernel with the optimizing tier up front. V8's baseline tier
  // (Liftoff) only hands over at the next call, so a single long call (a whole
  // tensor in a KernelWorkspace) would otherwise run in slow code throughout.
  setFlagsFromString("--no-liftoff");
  compiled = new WebAssembly.Module(bytes);
  return compiled;
}

/** A fresh instance of the kernel module with its own memory (see workspace.ts). */
export function newKernelInstance(): KernelExports {
  return new WebAssembly.Instance(kernelModule(), { env: { abort: wasmAbort } }).exports as KernelExports;
}

/** The kernel module of this thread, instantiated on first use. */
export function kernels(): KernelExports {
  instance ??= newKernelInstance();
  return instance;
}

function wasmAbort(): never {
  throw new QuantscopeError("internal error: a WASM kernel aborted");
}

/**
 * A bump allocator over the module's linear memory, reset per call.
 * Growing memory detaches old views, so take views (f32(), u8()) only after
 * every alloc() of a call.
 */
export class Arena {
  private top: number;
  private readonly base: number;
  constructor(private readonly k: KernelExports = kernels()) {
    this.base = (k.heapBase() + 15) & ~15;
    this.top = this.base;
  }
  reset(): void {
    this.top = this.base;
  }
  /** Reserve nbytes (16-byte aligned) and return their byte offset. */
  alloc(nbytes: number): number {
    const ptr = this.top;
    const end = ptr + ((nbytes + 15) & ~15);
    const mem = this.k.memory;
    if (end > mem.buffer.byteLength) {
      const pages = Math.ceil((end - mem.buffer.byteLength) / 65536);
      if (mem.buffer.byteLength / 65536 + pages > 65536) {
        throw new QuantscopeError(`internal error: WASM memory limit (4 GiB) exceeded by a ${nbytes}-byte request`);
      }
      mem.grow(pages);
    }
    this.top = end;
    return ptr;
  }
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, ptr, n);
  }
  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.k.memory.buffer, ptr, n);
  }
}
