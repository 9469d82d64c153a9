import { addFisherMarginals } from "./src/model/calibrate/fisher-wasm.js";
import { matmul } from "./src/model/forward/ops.js";
const n = 256;
for (const [rows, cols] of [[1024, 256], [256, 1024], [128, 256], [512, 256], [256, 512]]) {
const g = Float32Array.from({ length: n * rows }, () => Math.random() - 0.5), x = Float32Array.from({ length: n * cols }, () => Math.random() - 0.5);
const W = Float32Array.from({ length: rows * cols }, () => Math.random() - 0.5);
const R = new Float64Array(rows), C = new Float64Array(cols);
const time = (l: string, f: () => void) => { for (let i = 0; i < 3; i++) f(); let best = 1e9; for (let r = 0; r < 5; r++) { const t0 = performance.now(); for (let i = 0; i < 5; i++) f(); best = Math.min(best, (performance.now() - t0) / 5); } return best.toFixed(2); };
console.log(rows, cols, "fused", time("fused", () => addFisherMarginals(g, x, n, rows, cols, R, C, 1)), "plain", time("p", () => addFisherMarginals(g, x, n, rows, cols, R, C, 1, "plain")), "fwd matmul", time("fwd", () => matmul(x, n, cols, W, rows)), "back matmul", time("back", () => matmul(g, n, rows, W, cols)));
}
