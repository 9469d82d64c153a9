// npm run bench:calibrate — tokens/s of calibrate (forward + backward, one
// label sample) beside imatrix (forward only) on the same model, chunks and
// threads; single-thread, in-process, after one warm-up chunk each. The two
// alternate chunk by chunk and the ratio is also given in process CPU time,
// which a busy shared machine disturbs less than wall time.
// Usage: node --import tsx bench/calibrate.ts [--model tinyqwen|stories260K|moe-tiny] [--chunks N] [--ctx N]
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { readTextFile, tokenizerOf } from "../src/model/tokenizer/index.js";
import { chunking } from "../src/model/measure/chunks.js";
import { imatrixChunk } from "../src/model/measure/imatrix-collect.js";
import { calibrateChunk } from "../src/model/calibrate/collect.js";

const FX = fileURLToPath(new URL("../../shared/fixtures/", import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const which = flag("--model", "tinyqwen");
const model = which === "tinyqwen" ? FX + "models/tinyqwen-f16.gguf" : which === "moe-tiny" ? FX + "moe/moe-tiny-f16.gguf" : FX + "models/stories260K.gguf";
const textPath = which === "stories260K" ? FX + "models/calibration.txt" : FX + "tinyqwen/calibration.txt";
const ctx = Number(flag("--ctx", which === "stories260K" ? "128" : "256"));
const nChunks = Number(flag("--chunks", "4"));

const src = openSource(model);
const m = loadForwardModel(src);
const tok = tokenizerOf(src);
const full = readTextFile(textPath);
const tokens = Int32Array.from(tok.encode(full.slice(0, Math.min(full.length, ctx * (nChunks + 1) * 6))));
src.close();
const c = chunking(tokens.length, ctx, nChunks + 1);
const bos = tok.vocab.addBos ? tok.vocab.bos : undefined;

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const median = (a: number[]) => { const v = [...a].sort((x, y) => x - y); return v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2; };
imatrixChunk(m, tokens, c, 0, bos); // warm-up (JIT, transposes)
calibrateChunk(m, tokens, c, 0, bos, { seed: 1 });
const wall = { a: [] as number[], b: [] as number[] }, cpus = { a: [] as number[], b: [] as number[] };
for (let i = 1; i <= nChunks; i++) {
  let w0 = performance.now(), c0 = cpu();
  imatrixChunk(m, tokens, c, i, bos);
  wall.a.push((performance.now() - w0) / 1000); cpus.a.push(cpu() - c0);
  w0 = performance.now(); c0 = cpu();
  calibrateChunk(m, tokens, c, i, bos, { seed: 1 });
  wall.b.push((performance.now() - w0) / 1000); cpus.b.push(cpu() - c0);
}
process.stdout.write(`${which}: ${nChunks} chunks of ${ctx} tokens, one thread (median per chunk)\n`);
const line = (label: string, w: number[], cp: number[]) => process.stdout.write(`${label.padEnd(34)} ${median(w).toFixed(3)} s/chunk  ${(ctx / median(w)).toFixed(0)} tokens/s  (CPU ${median(cp).toFixed(3)} s)\n`);
line("imatrix (forward)", wall.a, cpus.a);
line("calibrate (forward + backward)", wall.b, cpus.b);
const ratio = (x: number[], y: number[]) => median(y.map((v, i) => v / x[i]!));
process.stdout.write(`calibrate / imatrix time: ${ratio(wall.a, wall.b).toFixed(2)}x wall, ${ratio(cpus.a, cpus.b).toFixed(2)}x CPU (goal <= 3x)\n`);
