// npm run bench:sweep — sweep speed, measured now, against same-run references.
//
// 1. tinyqwen-f16 (42 block matrices x 6 types, imatrix): 2-worker sweep (cold
//    workers: start-up included), plan time, --sample 0.1 and one thread (warm).
// 2. Qwen3-4B-shaped F16 layers (gen_model.py --preset 4b --layers 2, into
//    bench/data/), blocks 0 and 1 (14 matrices, 202 M weights), one type:
//    per-layer sweep time against the quantize kernels alone on the same
//    tensors in this process (one pre-faulted kernel memory, warm), both warm;
//    where the sweep's time goes; the old TypeScript path for comparison; two
//    workers (cold, start-up included) by difference of 2 and 1 layers; and the
//    sharded path end to end (2 CLI processes + plan --from).
// 3. --cost-model: per type, exact and --sample 0.1, seconds per billion weights
//    (one thread, warm) and peak RSS of a one-tensor CLI run (docs/scale.md).
// Usage: node --import tsx bench/sweep.ts [--skip-tiny] [--skip-4b] [--type Q4_K] [--cost-model [--rss-only]] [--reps N]
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix, type TensorSource } from "../src/io/source.js";
import { sweepParallel } from "../src/analysis/sweep/parallel.js";
import { measure, rowSums, sweepableTensors, sweepModel, tensorContext } from "../src/analysis/sweep/sweep.js";
import { newPhaseTimes, sweepTensorFast } from "../src/analysis/sweep/fast.js";
import { plan } from "../src/analysis/plan/plan.js";
import { mixModelFromSource } from "../src/analysis/plan/mixes.js";
import { KernelWorkspace } from "../src/quant/workspace.js";
import { quantizedSize } from "../src/quant/index.js";
import type { SweepResult } from "../src/analysis/sweep/types.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const FIX = here("../../shared/fixtures/");
const MAIN = here("../src/cli/main.ts");
const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"];
const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const REPS = Number(flag("--reps", "2"));
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const range = (xs: number[]) => xs.length > 1 ? `${s(Math.min(...xs))}–${s(Math.max(...xs))}` : s(xs[0]!);
const now = () => performance.now();
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function tiny() {
  const model = `${FIX}models/tinyqwen-f16.gguf`;
  const imPath = `${FIX}tinyqwen/imatrix.gguf`;
  const im = readImatrix(imPath);
  const blocks = /^blk\./;
  const src = openSource(model);
  let t = now();
  const exact = await sweepParallel(src, { types: TYPES, imatrix: im, tensors: blocks }, { model, imatrix: imPath, jobs: 2, minWork: 0 });
  const wall2 = now() - t;
  t = now();
  const p = plan(exact, { targetBpw: 4.5, overheadBytes: 0, hasImatrix: true, mixModel: mixModelFromSource(src), mixes: ["Q4_K_M"] });
  const planMs = now() - t;
  console.log(`tinyqwen-f16, 42 matrices x 6 types, imatrix, 2 workers (cold: worker start-up included): ${s(wall2)} (bar <= 20 s)`);
  console.log(`plan on that sweep (4.5 bpw, ${p.choices.length} tensors): ${planMs.toFixed(1)} ms (bar < 1000 ms)`);
  sweepModel(src, { types: TYPES, imatrix: im, tensors: /^blk\.0\./, sample: 0.1 }); // warm this thread
  const one: number[] = [], samp: number[] = [];
  for (let r = 0; r < REPS; r++) {
    t = now(); sweepModel(src, { types: TYPES, imatrix: im, tensors: blocks }); one.push(now() - t);
    t = now(); sweepModel(src, { types: TYPES, imatrix: im, tensors: blocks, sample: 0.1 }); samp.push(now() - t);
  }
  console.log(`same, one thread, warm: ${range(one)}; --sample 0.1, one thread, warm: ${range(samp)}: ${(Math.min(...one) / Math.min(...samp)).toFixed(1)}x faster than the warm exact thread, ${(wall2 / Math.min(...samp)).toFixed(1)}x than the cold 2-worker run (bar >= 8x)`);
  src.close();
}

/** CPU milliseconds of this process, all threads (waiting for a core is not counted). */
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let kernelCpu = 0;

/** Quantize-kernel-only seconds per tensor: one pre-faulted workspace, data copied in untimed (CPU time into kernelCpu). */
function kernelOnly(src: TensorSource, names: string[], type: string): Map<string, number> {
  const biggest = Math.max(...names.map((n) => { const t = src.tensor(n); return t.rows * t.cols; }));
  const ws = new KernelWorkspace(biggest * 4 + biggest * 2 + 64);
  const a = ws.floats(biggest), o = ws.bytes(biggest * 2);
  o.fill(1);
  const out = new Map<string, number>();
  for (const n of names) {
    const t = src.tensor(n);
    src.read(n, a);
    const size = quantizedSize(type, t.rows, t.cols);
    const t0 = now(), c0 = cpu();
    ws.quantize(type, a.subarray(0, t.rows * t.cols), t.rows, t.cols, o.subarray(0, size));
    out.set(n, (now() - t0) / 1000);
    kernelCpu += cpu() - c0;
  }
  return out;
}

function cli(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => (code === 0 ? resolve(0) : reject(new Error(`${args.join(" ")}: exit ${code}: ${err}`))));
  });
}

async function qwen4b(type: string) {
  const model = here("./data/qwen3-4b-2l-f16.gguf");
  if (!existsSync(model)) {
    mkdirSync(here("./data"), { recursive: true });
    console.log(`generating ${model} (gen_model.py --preset 4b --layers 2, 1.2 GB) ...`);
    execFileSync("python3", [here("../../shared/tools/gen_model.py"), "--preset", "4b", "--layers", "2", model], { stdio: "inherit" });
  }
  const src = openSource(model);
  const blocks = sweepableTensors(src, /^blk\.[01]\./).swept;
  const layer0 = blocks.filter((n) => n.startsWith("blk.0."));
  const weights = blocks.reduce((a, n) => { const t = src.tensor(n); return a + t.rows * t.cols; }, 0);
  console.log(`\nQwen3-4B-shaped F16 (gen_model.py --preset 4b --layers 2), blocks 0-1: ${blocks.length} matrices, ${(weights / 1e6).toFixed(0)} M weights, type ${type}, no imatrix; load average ${load()}`);

  // the quantize kernels alone and the sweep, one thread, interleaved rep by rep (the load on this shared
  // machine moves): wall and CPU time (process.cpuUsage: waiting for a core is not counted)
  kernelOnly(src, layer0.slice(0, 1), type); // warm the kernels (first call discarded)
  let t = now(), c = cpu();
  sweepModel(src, { types: [type], tensors: /^blk\.[01]\./ });
  const cold = (now() - t) / 2, coldCpu = (cpu() - c) / 2;
  const kern: number[] = [], kernCpu: number[] = [], warm: number[] = [], warmCpu: number[] = [], ratio: number[] = [], ratioCpu: number[] = [];
  let phases = newPhaseTimes();
  for (let r = 0; r < REPS; r++) {
    kernelCpu = 0;
    kern.push([...kernelOnly(src, blocks, type).values()].reduce((a, b) => a + b, 0) * 1000 / 2);
    kernCpu.push(kernelCpu / 2);
    const ph = newPhaseTimes();
    t = now(); c = cpu();
    blocks.forEach((n, i) => sweepTensorFast(src, n, 2, {}, i, [type], undefined, ph));
    warm.push((now() - t) / 2);
    warmCpu.push((cpu() - c) / 2);
    ratio.push(warm[r]! / kern[r]!);
    ratioCpu.push(warmCpu[r]! / kernCpu[r]!);
    if (r === 0 || warm[r]! <= Math.min(...warm)) phases = ph;
  }
  const k = Math.min(...kern);
  const x = (v: number[]) => `${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}x`;
  console.log(`quantize kernels alone (one thread, warm, same process): ${range(kern)} per layer (CPU ${range(kernCpu)})`);
  console.log(`sweep, one thread: cold ${s(cold)} per layer (CPU ${s(coldCpu)}; first run: kernel memory grown and touched); warm ${range(warm)} per layer (CPU ${range(warmCpu)})`);
  console.log(`  warm sweep / kernels, paired rep by rep: wall ${x(ratio)}, CPU ${x(ratioCpu)} (goal <= 1.5x); sweep time / its own quantize phase: ${(Math.min(...warm) * 2 / 1000 / phases.quantize).toFixed(2)}x`);
  const ph = Object.entries(phases).map(([name, v]) => `${name} ${(v / 2).toFixed(2)}`).join(", ");
  console.log(`  where a warm layer's time goes (s): ${ph}`);
  // the old TypeScript path (tensorContext + rowSums + measure), one layer, measured now
  t = now();
  for (const n of layer0) { const ctx = tensorContext(src, n, 2, {}); const sums = rowSums(ctx); measure(ctx, type, sums); }
  const old = now() - t;
  console.log(`old TypeScript path (before this change), one thread, blk.0: ${s(old)}: ${(old / k).toFixed(2)}x the kernels`);
  // two workers, cold (each worker loads its modules and grows its kernel memory): whole wall, and a
  // run on two small tensors (blk.0/1 attn_k, 2.6 M weights each) as the start-up estimate
  t = now(); c = cpu();
  await sweepParallel(src, { types: [type], tensors: /^blk\.[01]\.attn_k\./ }, { model, jobs: 2, minWork: 0 });
  const startup = now() - t;
  t = now(); c = cpu();
  const two: SweepResult = await sweepParallel(src, { types: [type], tensors: /^blk\.[01]\./ }, { model, jobs: 2, minWork: 0 });
  const both = now() - t, bothCpu = cpu() - c;
  console.log(`sweep, 2 workers (cold workers, start-up included): ${s(both / 2)} per layer wall, CPU ${s(bothCpu / 2)} per layer (all threads) vs the kernels' CPU ${s(Math.min(...kernCpu))}: ${(bothCpu / 2 / Math.min(...kernCpu)).toFixed(2)}x; start-up + two small tensors alone: ${s(startup)} wall; ${two.records.length} records`);
  // sharded end to end: 2 CLI processes (one thread each) in parallel, then plan --from
  const dir = mkdtempSync(join(tmpdir(), "qs-bench-"));
  t = now();
  await Promise.all([1, 2].map((i) => cli(["sweep", model, "--types", type, "--tensors", "^blk\\.[01]\\.", "-j", "1", "--shard", `${i}/2`, "--json", "-o", join(dir, `sweep-${i}.json`), "--no-progress"])));
  const sh = now() - t;
  t = now();
  await cli(["plan", "--from", join(dir, "sweep-*.json"), "--target-bpw", "14"]);
  const pl = now() - t;
  console.log(`sharded: 2 CLI processes (tsx, -j 1) in parallel ${s(sh)} + plan --from ${s(pl)} = ${s(sh + pl)} end to end for 2 layers (in-process 2 workers: ${s(both)})`);
  src.close();
}

async function costModel() {
  const model = here("./data/qwen3-4b-2l-f16.gguf");
  const src = openSource(model);
  const names = sweepableTensors(src, /^blk\.0\./).swept;
  const weights = names.reduce((a, n) => { const t = src.tensor(n); return a + t.rows * t.cols; }, 0);
  console.log(`\ncost model: blk.0 of the Qwen3-4B shape (${(weights / 1e6).toFixed(0)} M weights), one thread, warm; s per 1e9 weights; load average ${load()}`);
  sweepModel(src, { types: ["Q4_K"], tensors: /^blk\.0\./ }); // grow and touch
  for (const type of args.includes("--rss-only") ? [] : TYPES) {
    const kern = [...kernelOnly(src, names, type).values()].reduce((a, b) => a + b, 0);
    let t = now();
    sweepModel(src, { types: [type], tensors: /^blk\.0\./ });
    const exact = (now() - t) / 1000;
    t = now();
    sweepModel(src, { types: [type], tensors: /^blk\.0\./, sample: 0.1 });
    const samp = (now() - t) / 1000;
    const per = (x: number) => (x / weights * 1e9).toFixed(1).padStart(6);
    console.log(`${type.padEnd(5)} kernels ${per(kern)}  exact ${per(exact)}  --sample 0.1 ${per(samp)}`);
  }
  // peak RSS of one job on the largest block tensor and on blk.0 (CLI, one thread)
  for (const [what, re] of [["ffn_down (24.9 M)", "^blk\\.0\\.ffn_down\\."], ["token_embd (389 M)", "^token_embd\\."]] as const) {
    for (const sample of [undefined, "0.1"]) {
      const t0 = now();
      const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, "--import", "tsx", MAIN, "sweep", model, "--types", "Q4_K", "--tensors", re, "-j", "1", "--json", "-o", "/dev/null", "--no-progress", ...(sample ? ["--sample", sample] : [])], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(r.stderr);
      const kb = Number(r.stderr.trim().split("\n").pop());
      console.log(`peak RSS, one job (CLI, -j 1, Q4_K), ${what}${sample ? `, --sample ${sample}` : ", exact"}: ${(kb / 1024).toFixed(0)} MiB (wall ${s(now() - t0)})`);
    }
  }
  src.close();
}

console.log(`quantscope sweep benchmark (${new Date().toISOString()}, load average ${load()}); all times measured now`);
if (!args.includes("--skip-tiny")) await tiny();
if (!args.includes("--skip-4b")) await qwen4b(flag("--type", "Q4_K"));
if (args.includes("--cost-model")) await costModel();
