import { addFisherMarginals } from "./src/model/calibrate/collect.js";
import { matmul } from "./src/model/forward/ops.js";
const n = 256;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
for (const [rows, cols] of [[1024, 256], [256, 1024], [512, 256]]) {
const g = Float32Array.from({ length: n * rows }, () => Math.random() - 0.5), x = Float32Array.from({ length: n * cols }, () => Math.random() - 0.5);
const W = Float32Array.from({ length: rows * cols }, () => Math.random() - 0.5);
const R = new Float64Array(rows), C = new Float64Array(cols);
const time = (f: () => void) => { for (let i = 0; i < 3; i++) f(); let best = 1e9; for (let r = 0; r < 5; r++) { const t0 = cpu(); for (let i = 0; i < 10; i++) f(); best = Math.min(best, (cpu() - t0) / 10); } return best.toFixed(2); };
console.log(rows, cols, "fma", time(() => addFisherMarginals(g, x, n, rows, cols, R, C, 1)), "fwd matmul", time(() => matmul(x, n, cols, W, rows)), "back matmul", time(() => matmul(g, n, rows, W, cols)));
}
