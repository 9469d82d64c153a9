// Reader throughput and memory: MB/s for reading + dequantizing every tensor
// of tinyqwen-f16.gguf and tinyqwen-Q4_K_M.gguf (and a generated ~0.5 GB
// F16/Q8_0 GGUF), header-only open time, and peak RSS while walking each
// model in a fresh process next to the largest single tensor.
//   npm run bench:io [-- --no-big]      (needs build/kernels.wasm: npm run build:wasm)
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { encodeGgufHeader } from "../src/io/gguf-write.js";
import { GgufValueType } from "../src/io/gguf-header.js";
import { ggmlTypeByName } from "../src/ggml/types.js";
import { quantize } from "../src/quant/index.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const self = fileURLToPath(import.meta.url);

interface WalkResult { file: string; fileBytes: number; tensorBytes: number; floats: number; seconds: number; openMs: number; baseRss: number; peakRss: number; largestF32: number; largestRaw: number; }

/** Child: open (timed), read every tensor whole, report. */
type Mode = "" | "+gc" | "+reuse";

/** Reads every tensor; "+reuse" decodes into one buffer reused for every tensor (read(name, into)). */
function walk(file: string, mode: Mode): WalkResult {
  const baseRss = process.memoryUsage().rss;
  const t0 = performance.now();
  const src = openSource(file);
  const openMs = performance.now() - t0;
  let tensorBytes = 0, floats = 0, largestF32 = 0, largestRaw = 0;
  const t1 = performance.now();
  const gc = (globalThis as { gc?: () => void }).gc;
  let buf = new Float32Array(0);
  for (const t of src.tensors()) {
    gc?.(); // only in the --expose-gc run: shows what the reader itself keeps alive
    if (mode === "+reuse" && buf.length < t.rows * t.cols) buf = new Float32Array(t.rows * t.cols);
    const m = mode === "+reuse" ? src.read(t.name, buf) : src.read(t.name);
    tensorBytes += t.byteSize;
    floats += m.data.length;
    largestF32 = Math.max(largestF32, m.data.byteLength);
    largestRaw = Math.max(largestRaw, t.byteSize);
  }
  const seconds = (performance.now() - t1) / 1000;
  src.close();
  return { file, fileBytes: statSync(file).size, tensorBytes, floats, seconds, openMs, baseRss, peakRss: process.resourceUsage().maxRSS * 1024, largestF32, largestRaw };
}

/** A ~0.5 GB GGUF: 10 F16 4096x4096 matrices + 10 Q8_0 ones, data written in row chunks (never whole in memory). */
function makeBig(path: string): void {
  const n = 4096;
  const tensors = Array.from({ length: 20 }, (_, i) => ({ name: `blk.${i >> 1}.w${i & 1}.weight`, shape: [n, n], type: i % 2 ? "Q8_0" : "F16" }));
  const { header, offsets } = encodeGgufHeader([{ key: "general.architecture", type: GgufValueType.STRING, value: "bench" }], tensors);
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header, 0, header.length, 0);
    const rowsPerChunk = 256;
    const src = new Float32Array(rowsPerChunk * n);
    let x = 12345;
    for (let i = 0; i < src.length; i++) { x = (x * 1103515245 + 12345) >>> 0; src[i] = ((x >>> 8) / 2 ** 24 - 0.5) * 0.1; }
    tensors.forEach((t, ti) => {
      const info = ggmlTypeByName(t.type)!;
      const rowBytes = (n / info.blockSize) * info.typeSize;
      const chunk = quantize(t.type, src, rowsPerChunk, n);
      for (let r = 0; r < n; r += rowsPerChunk) writeSync(fd, chunk, 0, chunk.length, header.length + offsets[ti]! + r * rowBytes);
    });
  } finally {
    closeSync(fd);
  }
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);

if (process.argv[2] === "--child") {
  process.stdout.write(JSON.stringify(walk(process.argv[3]!, (process.argv[4] ?? "") as Mode)));
} else {
  const files = [fx("models/tinyqwen-f16.gguf"), fx("models/tinyqwen-Q4_K_M.gguf")];
  if (!process.argv.includes("--no-big")) {
    const dir = fileURLToPath(new URL("./data", import.meta.url));
    const big = `${dir}/io-bench-f16-q8.gguf`;
    if (!existsSync(big)) {
      mkdirSync(dir, { recursive: true });
      process.stderr.write(`writing ${big} ...\n`);
      makeBig(big);
    }
    files.push(big);
  }
  console.log("file (+gc: gc() before each tensor; +reuse: one output buffer)   file MB  open ms  read+dequant s  MB/s (stored)  Mfloats/s  peak RSS MB  base RSS MB  largest tensor MB (stored / f32)");
  for (const [f, mode] of files.flatMap((f) => (["", "+gc", "+reuse"] as const).map((m) => [f, m] as const))) {
    const gc = mode === "+gc";
    const r = spawnSync(process.execPath, [...(gc ? ["--expose-gc"] : []), "--import", "tsx", self, "--child", f, mode], { encoding: "utf8", maxBuffer: 1 << 20 });
    if (r.status !== 0) {
      console.error(r.stderr);
      process.exit(1);
    }
    const w = JSON.parse(r.stdout) as WalkResult;
    console.log([
      (f.split("/").pop()! + (mode ? ` ${mode}` : "")).padEnd(28), mb(w.fileBytes).padStart(8), w.openMs.toFixed(1).padStart(8), w.seconds.toFixed(3).padStart(15),
      (w.tensorBytes / 2 ** 20 / w.seconds).toFixed(0).padStart(14), (w.floats / 1e6 / w.seconds).toFixed(0).padStart(10),
      mb(w.peakRss).padStart(12), mb(w.baseRss).padStart(12), `${mb(w.largestRaw)} / ${mb(w.largestF32)}`.padStart(20),
    ].join(" "));
  }
  console.log("peak RSS - base RSS is what walking the model cost; compare it with the largest tensor, not the file size.");
  console.log("Without +gc the difference is garbage V8 has not collected yet (dead per-tensor arrays), not data the reader holds;");
  console.log("+reuse is how a caller walks a model in bounded memory: read(name, into) with one buffer.");
}
