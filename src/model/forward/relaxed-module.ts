// build/forward-relaxed.wasm (assembly/forward_relaxed.ts, with calibrate's kernels from
// assembly/calib_relaxed.ts), compiled once per thread; the forward pass and calibrate each make
// their own instance of it, so their scratch memories never meet.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

let compiled: WebAssembly.Module | null | undefined;

/**
 * The compiled module, when the engine runs relaxed SIMD (Node 22+; Node 20 behind V8's
 * --experimental-wasm-relaxed-simd, switched on here); null without it, without the built file, or
 * with QUANTSCOPE_NO_FMA=1 (the plain-SIMD kernels are used then).
 */
export function relaxedModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (process.env.QUANTSCOPE_NO_FMA) return null;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(new URL("../../../build/forward-relaxed.wasm", import.meta.url));
  } catch {
    return null;
  }
  // Optimized code from the first call, as for the main kernels (src/quant/wasm.ts): V8 otherwise
  // starts with its baseline compiler (Liftoff, ~4x slower here) and a call never switches tier midway.
  const compile = (): WebAssembly.Module | null => {
    try { setFlagsFromString("--no-liftoff"); } catch { /* an engine without the flag */ }
    try { return new WebAssembly.Module(bytes); } catch { return null; }
  };
  compiled = compile();
  if (!compiled) {
    try { setFlagsFromString("--experimental-wasm-relaxed-simd"); } catch { /* an engine without the flag */ }
    compiled = compile();
  }
  return compiled;
}
