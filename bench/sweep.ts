// npm run bench:sweep — sweep speed on tinyqwen-f16 (42 block matrices x 6
// types, with the tinyqwen imatrix) and on one Qwen3-4B-shaped layer from
// gen_synthetic.py; plan time on top; --sample 0.1 vs exact; and the time
// llama.cpp's C quantizers alone would need for the same quantizations (peer
// timings, single thread; shown per core and for two cores).
// Usage: node --import tsx bench/sweep.ts [--scale N] [--tokens T] [--skip-4b]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepParallel } from "../src/analysis/sweep-parallel.js";
import { ActivationDir } from "../src/analysis/sweep-activations.js";
import { plan } from "../src/analysis/plan.js";
import { mixModelFromSource } from "../src/analysis/mixes.js";
import type { SweepResult } from "../src/analysis/sweep-types.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const FIX = here("../../shared/fixtures/");
const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"];

// llama.cpp single-thread quantize MB/s (f32 input) from shared/fixtures/peer/timings.md (gaussian).
// Q3_K and Q5_K were not measured: Q4_K's figures stand in (same search family).
const C_MBPS: Record<string, { plain: number; imatrix: number }> = {
  Q2_K: { plain: 59, imatrix: 25 }, Q3_K: { plain: 47, imatrix: 30 }, Q4_K: { plain: 47, imatrix: 30 },
  Q5_K: { plain: 47, imatrix: 30 }, Q6_K: { plain: 116, imatrix: 111 }, Q8_0: { plain: 975, imatrix: 868 },
};

const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
let peakRss = 0;
const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);

function cSeconds(res: SweepResult, withImatrix: boolean): number {
  let s = 0;
  for (const r of res.records) {
    if (r.skipped) continue;
    const mb = (r.rows * r.cols * 4 * r.sampleFraction) / 1e6;
    const t = C_MBPS[r.type] ?? C_MBPS.Q4_K!;
    s += mb / (withImatrix && r.usedImatrix ? t.imatrix : t.plain);
  }
  return s;
}

async function run(label: string, model: string, opts: Parameters<typeof sweepParallel>[1], paths: { imatrix?: string; activations?: string; jobs?: number }) {
  const src = openSource(model);
  const t0 = performance.now();
  const res = await sweepParallel(src, opts, { model, jobs: 2, minWork: paths.jobs === 1 ? Infinity : undefined, ...paths });
  const wall = (performance.now() - t0) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const c = cSeconds(res, !!opts.imatrix);
  console.log(
    `${label.padEnd(44)} ${String(res.records.length).padStart(4)} records  wall ${wall.toFixed(2).padStart(7)} s  ` +
    `C quantizers alone: ${c.toFixed(2)} s/core (${(c / 2).toFixed(2)} s on 2 cores)  ratio ${(wall / (c / 2)).toFixed(2)}x  peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
  );
  return { res, wall, src };
}

async function main() {
  const tiny = `${FIX}models/tinyqwen-f16.gguf`;
  const imPath = `${FIX}tinyqwen/imatrix.gguf`;
  const im = readImatrix(imPath);
  const blocks = /^blk\./;
  console.log("quantscope sweep benchmark (2 worker threads)");
  const exact = await run("tinyqwen-f16, 42 matrices x 6 types, imatrix", tiny, { types: TYPES, imatrix: im, tensors: blocks }, { imatrix: imPath });
  const t1 = performance.now();
  const p = plan(exact.res, { targetBpw: 4.5, overheadBytes: 0, hasImatrix: true, mixModel: mixModelFromSource(exact.src), mixes: ["Q4_K_M"] });
  const planMs = performance.now() - t1;
  console.log(`plan on that sweep (4.5 bpw, ${p.choices.length} tensors): ${planMs.toFixed(1)} ms  (bar < 1000 ms)`);
  console.log(`tinyqwen exact sweep: ${exact.wall.toFixed(2)} s  (bar <= 20 s)`);
  // warm this thread's kernels first: the exact run above ran in workers
  await run("(warm-up: blk.0, --sample 0.1)", tiny, { types: TYPES, imatrix: im, tensors: /^blk\.0\./, sample: 0.1 }, { imatrix: imPath });
  const sampled = await run("tinyqwen-f16, same, --sample 0.1", tiny, { types: TYPES, imatrix: im, tensors: blocks, sample: 0.1 }, { imatrix: imPath });
  console.log(`--sample 0.1 speed-up vs the 2-worker exact sweep: ${(exact.wall / sampled.wall).toFixed(1)}x  (bar >= 8x)`);
  const single = await run("tinyqwen-f16, exact, one thread", tiny, { types: TYPES, imatrix: im, tensors: blocks }, { imatrix: imPath, jobs: 1 });
  console.log(`--sample 0.1 speed-up vs the same exact sweep in one thread: ${(single.wall / sampled.wall).toFixed(1)}x`);
  single.src.close();
  exact.src.close();
  sampled.src.close();

  if (!args.includes("--skip-4b")) {
    const scale = flag("--scale", "1");
    const tokens = flag("--tokens", "32");
    const dir = here(`./data/qwen3-4b-layer-s${scale}-t${tokens}`);
    if (!existsSync(`${dir}/blk_0_ffn_down_weight.f32bin`)) {
      mkdirSync(dir, { recursive: true });
      console.log(`generating ${dir} (gen_synthetic.py --scale ${scale} --tokens ${tokens}) ...`);
      execFileSync("python3", [here("../../shared/tools/gen_synthetic.py"), "--out", dir, "--scale", scale, "--tokens", tokens], { stdio: "inherit" });
    }
    const layer = await run(`Qwen3-4B-shaped layer (scale ${scale}), activations`, dir, { types: TYPES, activations: new ActivationDir(dir) }, { activations: dir });
    layer.src.close();
  }
  clearInterval(rssTimer);
}

await main();
