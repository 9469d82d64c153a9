// Mutation fuzzer for the model readers.
//   npm run fuzz -- [--iterations N] [--parser gguf|safetensors|imatrix|npy|f32bin] [--seed S] [--fixtures DIR]
// For each parser: N mutants of its seed files are written to a temp file and
// opened + read; every outcome must be success or a one-line QuantscopeError
// naming the file, field and byte offset. Prints counts, slowest iteration,
// peak RSS; exits 1 on any failure (and prints how to replay it).
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { classify, FUZZ_PARSERS, fuzzSeeds, mutate, Rng, type FuzzParser } from "../src/io/fuzz.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const iterations = Number(arg("iterations") ?? 2000);
const only = arg("parser");
const baseSeed = Number(arg("seed") ?? 1);
const fixtures = arg("fixtures") ?? fileURLToPath(new URL("../../shared/fixtures", import.meta.url));
if (!Number.isInteger(iterations) || iterations < 1) throw new Error("--iterations must be a positive integer");
if (only && !(FUZZ_PARSERS as readonly string[]).includes(only)) throw new Error(`--parser must be one of ${FUZZ_PARSERS.join(", ")}`);

// /dev/shm keeps the per-iteration file write off the disk when available.
const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "qs-fuzz-"));
let failed = 0;
try {
  for (const parser of FUZZ_PARSERS) {
    if (only && parser !== only) continue;
    const seeds = fuzzSeeds(parser as FuzzParser, fixtures);
    const counts = { ok: 0, rejected: 0, failure: 0 };
    const rejectionKinds = new Map<string, number>();
    let slowest = 0;
    let slowestHow = "";
    let peakRss = 0;
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) {
      const seedNo = baseSeed * 1_000_003 + i;
      const rng = new Rng(seedNo);
      const seed = seeds[i % seeds.length]!;
      const { bytes, how } = mutate(parser as FuzzParser, seed, rng);
      const path = join(dir, `${parser}-mutant${parser === "npy" ? ".npy" : ""}`);
      writeFileSync(path, bytes);
      const s = performance.now();
      const out = classify(parser as FuzzParser, path);
      const dt = performance.now() - s;
      if (dt > slowest) { slowest = dt; slowestHow = `${seed.name}: ${how}`; }
      counts[out.kind]++;
      if (out.kind === "rejected") {
        const field = out.message.slice(path.length + 2).replace(/ at byte \d+.*$/, "").replace(/\d+/g, "N").replace(/"[^"]*"/g, '"…"');
        rejectionKinds.set(field, (rejectionKinds.get(field) ?? 0) + 1);
      }
      if (out.kind === "failure") {
        failed++;
        if (counts.failure <= 10) {
          const keep = join(tmpdir(), `qs-fuzz-fail-${parser}-${seedNo}.bin`);
          writeFileSync(keep, bytes);
          console.error(`FAIL ${parser} iteration ${i} (rng seed ${seedNo}, ${seed.name}: ${how}): ${out.problem}\n  mutant kept at ${keep}`);
        }
      }
      if ((i & 1023) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    const secs = (performance.now() - t0) / 1000;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    console.log(`${parser.padEnd(11)} ${iterations} iterations in ${secs.toFixed(1)} s (${Math.round(iterations / secs)}/s): ok ${counts.ok}, rejected ${counts.rejected}, FAILURES ${counts.failure}; slowest ${slowest.toFixed(1)} ms (${slowestHow}); peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB; ${rejectionKinds.size} distinct rejection fields`);
    if (process.argv.includes("--verbose")) {
      for (const [k, v] of [...rejectionKinds].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`    ${String(v).padStart(8)}  ${k}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  console.error(`${failed} failures`);
  process.exitCode = 1;
}
