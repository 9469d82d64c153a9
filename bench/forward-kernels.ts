// npm run bench:forward-kernels — the forward pass's WASM kernels alone, in GFLOP/s per CPU
// second (best of 3 calls, so the shared machine's load shows less): the matmul on the
// 242 M model's and Qwen3-4B's shapes (T = 512 tokens, f32 inputs, the FMA module unless
// QUANTSCOPE_NO_FMA=1), causal attention (16/4 heads of 64, one 512-token chunk) and SwiGLU.
import { loadavg } from "node:os";
import { attentionWasm, matmulWasm } from "../src/model/forward/matmul-wasm.js";
import { swiglu } from "../src/model/forward/ops.js";

const T = 512;
const random = (n: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5; return a; };
const cpu = (f: () => void) => { const c0 = process.cpuUsage(); f(); const c = process.cpuUsage(c0); return (c.user + c.system) / 1e6; };
const best = (f: () => void) => Math.min(cpu(f), cpu(f), cpu(f));

console.log(`forward kernels (${process.env.QUANTSCOPE_NO_FMA ? "plain SIMD" : "relaxed-SIMD FMA"}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")})`);
for (const [name, n, m] of [["242M q/o", 1024, 1024], ["242M gate/up", 1024, 3072], ["242M down", 3072, 1024], ["4B gate/up", 2560, 9728], ["4B down", 9728, 2560]] as const) {
  const x = random(T * n), W = random(m * n), y = new Float32Array(T * m);
  const s = best(() => matmulWasm(x, T, n, W, m, y));
  console.log(`  matmul ${name.padEnd(13)} ${String(n).padStart(5)} -> ${String(m).padEnd(5)} ${(2 * T * n * m / s / 1e9).toFixed(1)} GFLOP/s`);
}
const nHead = 16, nKv = 4, d = 64;
const q = random(T * nHead * d), k = random(T * nKv * d), v = random(T * nKv * d);
const sa = best(() => attentionWasm(q, k, v, T, nHead, nKv, d, true));
// q·k and p·v over the causal half: 2 × 2 × d flops per (query, key) pair and head
const flops = nHead * (T * (T + 1) / 2) * 4 * d;
console.log(`  attention 16/4 heads × 64, ${T} tokens: ${(sa * 1000).toFixed(1)} ms (${(flops / sa / 1e9).toFixed(1)} GFLOP/s)`);
const g = random(T * 3072), u = random(T * 3072);
const a = new Float32Array(T * 3072);
const sg = best(() => swiglu(g, u, a));
console.log(`  SwiGLU ${T} × 3072: ${(sg * 1000).toFixed(1)} ms (${(sg / (T * 3072) * 1e9).toFixed(2)} ns per value)`);
