// Kernels for the K-quants Q2_K..Q6_K (see assembly/index.ts).
// kquants_ref.ts: scalar statement-for-statement ports (the oracle).
import { kquantQuantizeRef, kquantDequantizeRef } from "./kquants_ref";
export { kquantQuantizeRef, kquantDequantizeRef };

export function q2KQuantize(src: usize, dst: usize, rows: i32, cols: i32, im: usize): void { kquantQuantizeRef(2, src, dst, rows, cols, im); }
export function q3KQuantize(src: usize, dst: usize, rows: i32, cols: i32, im: usize): void { kquantQuantizeRef(3, src, dst, rows, cols, im); }
export function q4KQuantize(src: usize, dst: usize, rows: i32, cols: i32, im: usize): void { kquantQuantizeRef(4, src, dst, rows, cols, im); }
export function q5KQuantize(src: usize, dst: usize, rows: i32, cols: i32, im: usize): void { kquantQuantizeRef(5, src, dst, rows, cols, im); }
export function q6KQuantize(src: usize, dst: usize, rows: i32, cols: i32, im: usize): void { kquantQuantizeRef(6, src, dst, rows, cols, im); }
export function q2KDequantize(src: usize, dst: usize, nb: i32): void { kquantDequantizeRef(2, src, dst, nb); }
export function q3KDequantize(src: usize, dst: usize, nb: i32): void { kquantDequantizeRef(3, src, dst, nb); }
export function q4KDequantize(src: usize, dst: usize, nb: i32): void { kquantDequantizeRef(4, src, dst, nb); }
export function q5KDequantize(src: usize, dst: usize, nb: i32): void { kquantDequantizeRef(5, src, dst, nb); }
export function q6KDequantize(src: usize, dst: usize, nb: i32): void { kquantDequantizeRef(6, src, dst, nb); }
