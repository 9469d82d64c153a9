// Shared helpers for kernels. f32 arithmetic here is IEEE single precision
// without FMA, like llama.cpp's reference C compiled for baseline x86-64.

/** Sum of squares of n f32 values at ptr, accumulated in f64 (a smoke-test kernel). */
export function sumSquaresF64(ptr: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(ptr + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

/** First byte above static data; the host allocates from here. */
export function heapBase(): usize {
  return __heap_base;
}
