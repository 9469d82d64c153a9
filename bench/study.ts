// npm run bench: the original Python study vs `quantscope study --type proxy`
// on full-scale Qwen3-4B-shaped synthetic data (2560/9728/4096/1024, T=512,
// ~423 MB), generated once into bench/data/ (git-ignored). Prints wall time,
// peak RSS (from /usr/bin/time -v) and the speed ratio.
//   node --import tsx bench/study.ts [--skip-python] [--python-seconds S] [--quantscope-only]
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const shared = join(repo, "..", "shared");
const root = join(repo, "bench", "data", "qwen3-4b-synth");
const data = join(root, "data");
const scripts = join(root, "scripts");
const args = process.argv.slice(2);
const skipPython = args.includes("--skip-python");

function ensureData(): void {
  const need = ["blk_0_ffn_down_weight.f32bin", "act_blk0_ffn_down_input.f32bin", "blk_0_attn_output_weight.f32bin"];
  if (need.every((f) => existsSync(join(data, f)))) return;
  mkdirSync(data, { recursive: true });
  console.log("generating full-scale synthetic data (once) ...");
  const r = spawnSync("python3", [join(shared, "tools", "gen_synthetic.py"), "--out", data], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("gen_synthetic.py failed");
}

interface Run { wallS: number; cpuS: number; peakRssMB: number; status: number | null; stdout: string }

/** Runs a command under /usr/bin/time -v; wall time and peak RSS from its report. */
function timed(cmd: string, argv: string[], cwd = repo): Run {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-v", cmd, ...argv], { cwd, encoding: "utf8", maxBuffer: 1 << 28 });
  const wallS = (performance.now() - t0) / 1000;
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? "");
  const user = /User time \(seconds\): ([\d.]+)/.exec(r.stderr ?? ""), sys = /System time \(seconds\): ([\d.]+)/.exec(r.stderr ?? "");
  const cpuS = user && sys ? Number(user[1]) + Number(sys[1]) : NaN;
  if (r.status !== 0) process.stderr.write(r.stderr.split("\n").slice(-15).join("\n"));
  return { wallS, cpuS, peakRssMB: m ? Number(m[1]) / 1024 : NaN, status: r.status, stdout: r.stdout };
}

function inputSizes(): { totalMB: number; largestMB: number; largestPairMB: number } {
  const sizes = new Map(readdirSync(data).filter((f) => f.endsWith(".f32bin")).map((f) => [f, statSync(join(data, f)).size / 2 ** 20]));
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const largest = Math.max(...sizes.values());
  return { totalMB: total, largestMB: largest, largestPairMB: largest + (sizes.get("act_blk0_ffn_down_input.f32bin") ?? 0) };
}

ensureData();
const sz = inputSizes();
console.log(`data: ${data} (${sz.totalMB.toFixed(0)} MiB in 11 files, largest ${sz.largestMB.toFixed(0)} MiB)`);

let py: Run | null = null;
const cache = join(root, "python-run.json");
if (!skipPython) {
  mkdirSync(scripts, { recursive: true });
  copyFileSync(join(shared, "reference", "analyze_ffn_down.py"), join(scripts, "analyze_ffn_down.py"));
  console.log("running the Python study (about 2 minutes) ...");
  py = timed("python3", [join(scripts, "analyze_ffn_down.py")], root);
  writeFileSync(cache, JSON.stringify({ wallS: py.wallS, cpuS: py.cpuS, peakRssMB: py.peakRssMB, status: py.status }));
} else if (existsSync(cache)) {
  py = { ...JSON.parse(readFileSync(cache, "utf8")), stdout: "" } as Run;
  console.log("(Python study timing from the previous run: bench/data/qwen3-4b-synth/python-run.json)");
}

// Compile to a private dist (bench/data/dist, git-ignored) so the timing is of plain JS, not tsx.
function buildPrivateDist(): string[] {
  const out = join(repo, "bench", "data", "dist");
  const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
  spawnSync(process.execPath, [tsc, "-p", join(repo, "tsconfig.json"), "--outDir", out], { stdio: "ignore" });
  mkdirSync(join(repo, "bench", "data", "build"), { recursive: true });
  if (existsSync(join(repo, "build", "kernels.wasm"))) copyFileSync(join(repo, "build", "kernels.wasm"), join(repo, "bench", "data", "build", "kernels.wasm"));
  const main = join(out, "cli", "main.js");
  return existsSync(main) && !args.includes("--tsx") ? [main] : ["--import", "tsx", join(repo, "src", "cli", "main.ts")];
}
const cli = ["node", buildPrivateDist()] as const;
console.log(`running quantscope study --type proxy (${cli[1].at(-1)}) ...`);
const qs = timed(cli[0], [...cli[1], "study", data, "--type", "proxy", "--json"]);
const analysisS = qs.status === 0 ? (JSON.parse(qs.stdout) as { elapsedMs: number }).elapsedMs / 1000 : NaN;

const row = (name: string, r: Run | null) =>
  r ? `${name.padEnd(28)} wall ${r.wallS.toFixed(2).padStart(7)} s   cpu ${r.cpuS.toFixed(2).padStart(7)} s   peak RSS ${r.peakRssMB.toFixed(0).padStart(5)} MiB   exit ${r.status}` : `${name.padEnd(28)} (not run)`;
console.log("");
console.log(row("python analyze_ffn_down.py", py));
console.log(row("quantscope study --type proxy", qs));
console.log(`quantscope analysis alone (in-process): ${analysisS.toFixed(2)} s`);
if (py) console.log(`speed-up: ${(py.wallS / qs.wallS).toFixed(1)}x wall (bar: >= 50x), ${(py.wallS / analysisS).toFixed(1)}x analysis-only, ${(py.cpuS / qs.cpuS).toFixed(1)}x in CPU time`);
const load = (() => { try { return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "); } catch { return "?"; } })();
console.log(`load average at the end: ${load} (on a shared machine wall-time ratios drift with load; CPU time less so)`);
// Weights and activations are streamed in 1 MB row chunks (the calling thread and one worker), so what
// is held at once is a few MB of chunks and per-tensor summaries per thread; the rest is two V8 isolates.
console.log(`peak RSS ${qs.peakRssMB.toFixed(0)} MiB = ${(qs.peakRssMB / sz.largestMB).toFixed(2)}x the largest tensor (${sz.largestMB.toFixed(0)} MiB; bar <= 1.5x the largest input set held at once), ${(qs.peakRssMB / sz.totalMB).toFixed(2)}x the whole input (${sz.totalMB.toFixed(0)} MiB)`);
