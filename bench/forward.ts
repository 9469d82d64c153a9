// npm run bench:forward — tokens/s and peak RSS of `eval` and `imatrix`
// (streamed forward pass) on
//  - the ~200 M Qwen3-shaped model of the peer timings (gen_model.py --preset 200m
//    --vocab-from tinyqwen-f16.gguf: 20 layers, 242.3 M params, F16), -c 512 --chunks 4,
//    compared with llama.cpp's recorded figures (shared/fixtures/peer/forward_timings.md:
//    AVX2+FMA build, 2 threads, quiet machine);
//  - the Qwen3-4B shape (36 layers, hidden 2560, FFN 9728, vocab 151,936) with only a
//    few layers (default 3: the full 8 GB model takes long to generate and run), one
//    thread; the 36-layer figure is extrapolated from the measured per-layer time.
// Each case runs in a fresh process (bench/forward-run.ts, on the built JS in dist/ as the CLI runs)
// so its peak RSS is its own.
// The machine is shared: besides wall-clock tokens/s the CPU-bound rate
// (tokens per CPU-second × threads) is shown, which is what a quiet machine would give.
// Usage: node --import tsx bench/forward.ts [--repeat N] [--layers-4b N] [--skip-4b] [--chunks-4b N]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const FIX = here("../../shared/fixtures/");
const DATA = here("./data/");
const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const REPEAT = Number(flag("--repeat", "2"));
const L4B = Number(flag("--layers-4b", "3"));
const CH4B = flag("--chunks-4b", "1");
// llama.cpp tokens/s, -t 2 (forward_timings.md)
const PEER = { eval: 290, imatrix: 275 };

interface Run {
  tool: string; tokens: number; wall: number; cpu: number; maxRssMiB: number; plan: { batch: number; threads: number };
  stats: { readSeconds: number; layerSeconds: number; headSeconds: number; layers: number; layerCpuSeconds: number; headCpuSeconds: number };
}

function gen(out: string, extra: string[]): void {
  if (existsSync(out)) return;
  mkdirSync(DATA, { recursive: true });
  process.stderr.write(`generating ${out} ...\n`);
  execFileSync("python3", [here("../../shared/tools/gen_model.py"), ...extra, out], { stdio: "inherit" });
}

function run(tool: string, model: string, ctx: string, chunks: string, jobs: string): Run {
  const out = execFileSync(process.execPath, ["--import", "tsx", here("./forward-run.ts"), tool, model, FIX + "models/tinyqwen-f16.gguf", FIX + "tinyqwen/calibration.txt", ctx, chunks, jobs],
    { encoding: "utf8", maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split("\n").pop()!) as Run;
}

const range = (xs: number[], d = 1) => { const a = Math.min(...xs), b = Math.max(...xs); return a === b ? a.toFixed(d) : `${a.toFixed(d)}–${b.toFixed(d)}`; };

console.log(`forward pass benchmark (${REPEAT} runs each; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on this shared machine)`);
console.log("llama.cpp figures: recorded in shared/fixtures/peer/forward_timings.md (commit 3f545bec, AVX2+FMA CPU build, -t 2, quiet machine)\n");

const m200 = DATA + "m200.gguf";
gen(m200, ["--preset", "200m", "--vocab-from", FIX + "models/tinyqwen-f16.gguf"]);
console.log("200M Qwen3 shape (20 layers, 242.3 M params, F16), -c 512 --chunks 4 (2048 tokens), -j 2:");
for (const tool of ["eval", "imatrix"] as const) {
  const rs: Run[] = [];
  for (let k = 0; k < REPEAT; k++) rs.push(run(tool, m200, "512", "4", "2"));
  const wallTps = rs.map((r) => r.tokens / r.wall), cpuTps = rs.map((r) => (r.tokens / r.cpu) * r.plan.threads);
  console.log(`  ${tool.padEnd(8)} ${range(wallTps)} tokens/s wall (ratio to llama.cpp ${range(wallTps.map((x) => x / PEER[tool]), 2)}), ` +
    `CPU-bound ${range(cpuTps)} tokens/s (ratio ${range(cpuTps.map((x) => x / PEER[tool]), 2)}); ` +
    `${range(rs.map((r) => r.cpu))} CPU s, peak RSS ${range(rs.map((r) => r.maxRssMiB), 0)} MiB (llama.cpp ${PEER[tool]} tokens/s, 518 MiB); ` +
    `${rs[0]!.plan.threads} threads × batches of ${rs[0]!.plan.batch} chunks`);
}

if (!args.includes("--skip-4b")) {
  const q4b = DATA + `q4b-l${L4B}.gguf`;
  gen(q4b, ["--preset", "4b", "--layers", String(L4B)]);
  console.log(`\nQwen3-4B shape with ${L4B} of 36 layers (hidden 2560, FFN 9728, vocab 151,936, F16), -c 512 --chunks ${CH4B}:`);
  for (const tool of ["eval", "imatrix"] as const) {
    const r = run(tool, q4b, "512", CH4B, "2");
    const s = r.stats;
    const passes = s.layers / L4B;
    const perLayerCpu = s.layerCpuSeconds / s.layers; // CPU seconds per layer per batch pass
    const cpu36 = r.cpu - s.layerCpuSeconds + perLayerCpu * 36 * passes;
    // llama.cpp was not timed on this shape: its 200M rate scaled by parameters (4.02 B vs 242 M), an optimistic guess
    const peer4b = PEER[tool] * (242.3 / 4022);
    console.log(`  ${tool.padEnd(8)} measured: ${(r.tokens / r.wall).toFixed(2)} tokens/s wall, ${r.cpu.toFixed(1)} CPU s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB, ` +
      `${r.plan.threads} thread × batches of ${r.plan.batch}; per layer ${perLayerCpu.toFixed(2)} CPU s per pass, head ${s.headCpuSeconds.toFixed(1)} CPU s, weight reads ${s.readSeconds.toFixed(1)} s wall\n` +
      `           36 layers (extrapolated): ${cpu36.toFixed(0)} CPU s = ${(r.tokens / cpu36).toFixed(2)} tokens/s CPU-bound on this 1 thread ` +
      `(llama.cpp's 200M rate scaled by parameters: ≈ ${peer4b.toFixed(1)} tokens/s on 2 threads; ratio ≈ ${(r.tokens / cpu36 / peer4b).toFixed(2)}); peak RSS does not grow with layers`);
  }
}
