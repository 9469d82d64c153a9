// Codec throughput: quantize + dequantize a 2560x9728 f32 matrix per type, with
// and without an imatrix, single-threaded, next to llama.cpp's C figures from
// ../shared/fixtures/peer/timings.md. Run: npm run bench:codecs [-- --types Q4_0,Q8_0] [--quick] [--runs N] [--copying]
// By default the matrix, its blocks and the output live in a KernelWorkspace
// (zero copy, like the C harness's buffers); --copying measures quantizeInto /
// dequantizeInto instead, which copy through WASM memory in chunks.
import { readFileSync } from "node:fs";
import { quantizeInto, dequantizeInto, quantizedSize, supportedTypes, typeInfo } from "../src/quant/index.js";
import { KernelWorkspace } from "../src/quant/workspace.js";

const TIMINGS = new URL("../../shared/fixtures/peer/timings.md", import.meta.url);

interface Peer {
  quantize: number;
  dequantize: number;
}

/** "TYPE|imatrix|input" -> C MB/s, from the markdown table of timings.md. */
function readPeer(): Map<string, Peer> {
  const m = new Map<string, Peer>();
  let text = "";
  try {
    text = readFileSync(TIMINGS, "utf8");
  } catch {
    return m;
  }
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((s) => s.trim());
    // | type | imatrix | input | quantize MB/s | quantize s | dequantize MB/s | dequantize s |
    if (cells.length < 8 || !/^\d+$/.test(cells[4] ?? "")) continue;
    m.set(`${cells[1]}|${cells[2]}|${cells[3]}`, { quantize: Number(cells[4]), dequantize: Number(cells[6]) });
  }
  return m;
}

/** xorshift32 -> uniform (0,1), fixed seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
}

function normals(n: number, seed: number): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

function gaussian(n: number): Float32Array {
  const z = normals(n, 0x9e3779b9);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.02 * z[i]!;
  return x;
}

/** 0.02 * Student-t(3) = 0.02 * z / sqrt(chi2_3 / 3). */
function studentT3(n: number): Float32Array {
  const z = normals(n, 0x85ebca6b);
  const c = normals(3 * n, 0xc2b2ae35);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const chi = c[3 * i]! ** 2 + c[3 * i + 1]! ** 2 + c[3 * i + 2]! ** 2;
    x[i] = (0.02 * z[i]!) / Math.sqrt(chi / 3);
  }
  return x;
}

/** Log-normal per column, every 997th column x100 (like timings.md). */
function imatrixFor(cols: number): Float32Array {
  const z = normals(cols, 0x27d4eb2f);
  const w = new Float32Array(cols);
  for (let i = 0; i < cols; i++) w[i] = Math.exp(z[i]!) * (i % 997 === 0 ? 100 : 1);
  return w;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median CPU seconds (user + system) of f over runs, after one warm-up: like timings.md's CPU column. */
function time(f: () => void, runs: number): number {
  f();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1e6);
  }
  return median(t);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes("--quick");
const copying = process.argv.includes("--copying");
const rows = quick ? 256 : 2560;
const cols = 9728;
const runs = Number(arg("--runs") ?? (quick ? 3 : 3));
const types = (arg("--types")?.split(",") ?? supportedTypes()).map((t) => t.trim().toUpperCase());
const peer = readPeer();
const mb = (rows * cols * 4) / 1e6;

console.log(`codec throughput, ${rows}x${cols} f32 (${mb.toFixed(1)} MB), single thread, median CPU time of ${runs} runs after 1 warm-up, output buffers reused`);
console.log(copying ? "path: quantizeInto/dequantizeInto (copies through WASM memory)" : "path: KernelWorkspace (zero copy)");
console.log(`MB/s of f32 in both directions; C = llama.cpp 3f545becc on this machine (peer/timings.md)${quick ? "; --quick: C figures are for the full matrix" : ""}`);
const header = ["type", "imatrix", "input", "quant MB/s", "C", "ratio", "dequant MB/s", "C", "ratio"];
const lines: string[][] = [header];
const n = rows * cols;
const maxBytes = Math.max(...types.map((t) => quantizedSize(t, rows, cols)));
const ws = copying ? undefined : new KernelWorkspace(2 * n * 4 + n * 4 + maxBytes + 1024 * 1024);
const inWs = (a: Float32Array): Float32Array => {
  if (!ws) return a;
  const v = ws.floats(a.length);
  v.set(a);
  return v;
};
const inputs: [string, Float32Array][] = [
  ["gaussian", inWs(gaussian(n))],
  ["student-t3", inWs(studentT3(n))],
];
const qBuf = ws ? ws.bytes(maxBytes) : new Uint8Array(maxBytes);
const yBuf = ws ? ws.floats(n) : new Float32Array(n);
const imatrix = imatrixFor(cols);
for (const type of types) {
  const info = typeInfo(type);
  const withIm = [false, true]; // like timings.md, also for types that ignore the imatrix
  for (const [inputName, x] of inputs) {
    for (const im of withIm) {
      if (info.imatrix === "required" && !im) continue;
      const w = im ? imatrix : undefined;
      // Output buffers are allocated once and reused, as the C harness does.
      const q = qBuf.subarray(0, quantizedSize(info.name, rows, cols));
      const y = yBuf;
      const tq = time(() => (ws ? ws.quantize(info.name, x, rows, cols, q, w) : quantizeInto(info.name, x, rows, cols, q, w)), runs);
      const td = time(() => (ws ? ws.dequantize(info.name, q, rows, cols, y) : dequantizeInto(info.name, q, rows, cols, y)), runs);
      const p = peer.get(`${info.name}|${im ? "yes" : "no"}|${inputName}`);
      const qs = mb / tq;
      const ds = mb / td;
      lines.push([
        info.name, im ? "yes" : "no", inputName,
        qs.toFixed(0), p ? String(p.quantize) : "", p ? (qs / p.quantize).toFixed(2) + "x" : "",
        ds.toFixed(0), p ? String(p.dequantize) : "", p ? (ds / p.dequantize).toFixed(2) + "x" : "",
      ]);
      process.stdout.write(`.`);
    }
  }
}
process.stdout.write("\n");
const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
for (const l of lines) console.log(l.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));

// The dequantizers write 4 bytes per weight, so on a large matrix they are bound
// by memory write bandwidth, which varies between hosts and over time here. Copy
// the f32 input over the output buffer (native memmove) in the same run to show
// the ceiling that the dequantize column is measured against.
const ceiling = mb / time(() => yBuf.set(inputs[0]![1]), runs);
console.log(`memory reference now: a native copy of ${mb.toFixed(1)} MB of f32 runs at ${ceiling.toFixed(0)} MB/s (it reads and writes ${mb.toFixed(1)} MB; a dequantizer reads 2-8x less but writes as much)`);
