// Codec throughput: quantize + dequantize per type, with and without an
// imatrix, single-threaded, next to llama.cpp's C figures *recorded* in
// ../shared/fixtures/peer/timings.md (they are not measured by this script).
// Run: npm run bench:codecs [-- --types Q4_0,Q8_0] [--quick] [--runs N] [--copying] [--api]
//
// What is compared:
// * C: llama.cpp 3f545becc, GCC 12.2 -O3, Release, GGML_NATIVE=OFF. The quantizers
//   and dequantizers live in libggml-base, which that build compiles for baseline
//   x86-64 (SSE2 only: no AVX, no FMA, no F16C). Single thread, per-thread CPU time,
//   on a 2-vCPU KVM guest of the same kind as this machine, at another time.
//   Main table: 2560x9728 f32, gaussian and student-t3, median of 5 runs after 1
//   warm-up. "The ten further types" table: 256x9728 gaussian only, median of 3,
//   to_float row by row. Each type is measured here on the shape and inputs of the
//   table that has it (types in neither run on 2560x9728 without a C figure).
// * Ours: warm figures. One untimed warm-up run, then the median CPU time of
//   --runs runs, with the input and output buffers allocated once and reused (as
//   the C harness does), so page faults of fresh memory are not in them. By default
//   the buffers live in a KernelWorkspace (zero copy); --copying measures
//   quantizeInto/dequantizeInto, which copy through WASM memory in chunks.
// * --api: the allocating dequantize() (a fresh result array per call, cold pages)
//   against dequantizeInto() into one reused array, at 512x9728, with the page
//   faults per call: what a caller of the plain API sees (docs/codecs.md).
// The type list is the registry's plus every type timings.md has a figure for;
// a type without a codec in this build prints "not available".
import { readFileSync } from "node:fs";
import { dequantize, dequantizeInto, quantize, quantizeInto, quantizedSize, supportedTypes, typeInfo } from "../src/quant/index.js";
import { KernelWorkspace } from "../src/quant/workspace.js";

const TIMINGS = new URL("../../shared/fixtures/peer/timings.md", import.meta.url);

interface Peer {
  quantize: number;
  dequantize: number;
}

/** The recorded C figures: "TYPE|imatrix|input" -> MB/s, and which table (shape) each type is in. */
interface PeerTables {
  figures: Map<string, Peer>;
  /** type -> rows of the C matrix (2560 main table, 256 "ten further types"); cols are 9728 in both. */
  rows: Map<string, number>;
  /** types in table order */
  order: string[];
}

function readPeer(): PeerTables {
  const t: PeerTables = { figures: new Map(), rows: new Map(), order: [] };
  let text = "";
  try {
    text = readFileSync(TIMINGS, "utf8");
  } catch {
    return t;
  }
  const num = (c: string | undefined) => /^\d+(\.\d+)?$/.test(c ?? "");
  for (const line of text.split("\n")) {
    const c = line.split("|").map((s) => s.trim());
    let type: string, im: string, input: string, peer: Peer, rows: number;
    if (c.length >= 9 && num(c[4]) && num(c[6])) {
      // | type | imatrix | input | quantize MB/s | quantize s | dequantize MB/s | dequantize s |
      [type, im, input, rows] = [c[1]!, c[2]!, c[3]!, 2560];
      peer = { quantize: Number(c[4]), dequantize: Number(c[6]) };
    } else if (c.length === 6 && num(c[3]) && num(c[4])) {
      // | type | imatrix | quantize MB/s | dequantize MB/s |  (256 x 9728, gaussian)
      [type, im, input, rows] = [c[1]!, c[2]!, "gaussian", 256];
      peer = { quantize: Number(c[3]), dequantize: Number(c[4]) };
    } else continue;
    t.figures.set(`${type}|${im}|${input}`, peer);
    if (!t.rows.has(type)) t.order.push(type);
    t.rows.set(type, rows);
  }
  return t;
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
const apiMode = process.argv.includes("--api");
const COLS = 9728;
const bigRows = quick ? 256 : 2560;
const runs = Number(arg("--runs") ?? 3);
const peer = readPeer();
const registered = supportedTypes();
const allTypes = [...registered, ...peer.order.filter((t) => !registered.includes(t))];
const wanted = arg("--types")?.split(",").map((t) => t.trim().toUpperCase());
const types = wanted ?? allTypes;

function table(lines: string[][], left: number): void {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
  for (const l of lines) console.log(l.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd());
}

function notAvailable(type: string): string {
  const rec = [...peer.figures.entries()].filter(([k]) => k.startsWith(`${type}|`));
  const c = rec.map(([k, p]) => `imatrix ${k.split("|")[1]}: ${p.quantize} / ${p.dequantize} MB/s`).join("; ");
  return `${type}: not available (no codec registered in this build)${c ? `; recorded C quantize / dequantize: ${c}` : ""}`;
}

/** Wall seconds of f, and minor page faults, per call: median over runs after one warm-up. */
function wallAndFaults(f: () => void, n: number): { s: number; lo: number; hi: number; faults: number } {
  f();
  const t: number[] = [];
  const faults: number[] = [];
  for (let i = 0; i < n; i++) {
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    f();
    t.push((performance.now() - t0) / 1e3);
    faults.push(process.resourceUsage().minorPageFault - f0);
  }
  return { s: median(t), lo: Math.min(...t), hi: Math.max(...t), faults: median(faults) };
}

if (apiMode) {
  // The public API on 512x9728: dequantize() allocates its result on every call;
  // dequantizeInto() writes one array allocated once. Wall time (page faults are
  // mostly spent outside this process's CPU time in a VM).
  const rows = 512;
  const n = rows * COLS;
  const mb = (n * 4) / 1e6;
  const x = gaussian(n);
  const out = new Float32Array(n);
  console.log(`public API dequantize, ${rows}x${COLS} (${mb.toFixed(1)} MB of f32 out), single thread, median wall time of ${runs} calls after 1 warm-up (range in brackets)`);
  console.log("fresh = dequantize(): a new result array per call, whose pages the OS maps on first touch; reused = dequantizeInto() into one array");
  const lines: string[][] = [["type", "fresh GB/s", "faults/call", "reused GB/s", "faults/call"]];
  const missing: string[] = [];
  for (const type of types) {
    if (!registered.includes(type)) { missing.push(notAvailable(type)); continue; }
    const info = typeInfo(type);
    const q = quantize(info.name, x, rows, COLS, info.imatrix === "required" ? imatrixFor(COLS) : undefined);
    const fresh = wallAndFaults(() => dequantize(info.name, q, rows, COLS), runs);
    const reused = wallAndFaults(() => dequantizeInto(info.name, q, rows, COLS, out), runs);
    const g = (r: { s: number; lo: number; hi: number }) => `${(mb / r.s / 1e3).toFixed(2)} [${(mb / r.hi / 1e3).toFixed(2)}-${(mb / r.lo / 1e3).toFixed(2)}]`;
    lines.push([info.name, g(fresh), String(fresh.faults), g(reused), String(reused.faults)]);
    process.stdout.write(".");
  }
  process.stdout.write("\n");
  table(lines, 1);
  for (const m of missing) console.log(m);
  console.log(`a 4 KiB page per fault: ${Math.ceil((n * 4) / 4096)} pages in one result array`);
  process.exit(0);
}

const n = bigRows * COLS;
const runnable = types.filter((t) => registered.includes(t));
const rowsOf = (t: string) => (peer.rows.get(t) === 256 ? 256 : bigRows);
const maxBytes = Math.max(0, ...runnable.map((t) => quantizedSize(t, rowsOf(t), COLS)));
const ws = copying ? undefined : new KernelWorkspace(2 * n * 4 + n * 4 + maxBytes + 1024 * 1024);
const inWs = (a: Float32Array): Float32Array => {
  if (!ws) return a;
  const v = ws.floats(a.length);
  v.set(a);
  return v;
};
const gauss = inWs(gaussian(n));
const student = inWs(studentT3(n));
const qBuf = ws ? ws.bytes(maxBytes) : new Uint8Array(maxBytes);
const yBuf = ws ? ws.floats(n) : new Float32Array(n);
const imatrix = imatrixFor(COLS);

console.log(`codec throughput, single thread; ours: warm (1 untimed warm-up, then the median CPU time of ${runs} runs, buffers allocated once and reused)`);
console.log(copying ? "our path: quantizeInto/dequantizeInto (copies through WASM memory in chunks)" : "our path: KernelWorkspace (zero copy, like the C harness's buffers)");
console.log("C: figures RECORDED in shared/fixtures/peer/timings.md, not measured now: llama.cpp 3f545becc, GCC 12.2 -O3 Release, GGML_NATIVE=OFF,");
console.log("   ggml-base built for baseline x86-64 (SSE2 only: no AVX, no FMA, no F16C), single thread, per-thread CPU time, same kind of 2-vCPU VM;");
console.log("   2560 rows: median of 5 (gaussian and student-t3); 256 rows: 'the ten further types', median of 3, gaussian only, to_float row by row");
console.log(`MB/s of f32 in both directions, on rows x ${COLS}${quick ? "; --quick: 256 rows, but the 2560-row C figures are for the full matrix" : ""}`);
const header = ["type", "rows", "imatrix", "input", "quant MB/s", "C", "ratio", "dequant MB/s", "C", "ratio"];
const lines: string[][] = [header];
const missing: string[] = [];
for (const type of types) {
  if (!registered.includes(type)) {
    missing.push(notAvailable(type));
    lines.push([type, "", "", "not available", "", "", "", "", "", ""]);
    continue;
  }
  const info = typeInfo(type);
  const rows = rowsOf(info.name);
  const mb = (rows * COLS * 4) / 1e6;
  const inputs: [string, Float32Array][] = rows === 256 && peer.rows.get(info.name) === 256
    ? [["gaussian", gauss.subarray(0, rows * COLS)]]
    : [["gaussian", gauss.subarray(0, rows * COLS)], ["student-t3", student.subarray(0, rows * COLS)]];
  for (const [inputName, x] of inputs) {
    for (const im of [false, true]) { // like timings.md, also for types that ignore the imatrix
      if (info.imatrix === "required" && !im) continue;
      const w = im ? imatrix : undefined;
      const q = qBuf.subarray(0, quantizedSize(info.name, rows, COLS));
      const y = yBuf.subarray(0, rows * COLS);
      const tq = time(() => (ws ? ws.quantize(info.name, x, rows, COLS, q, w) : quantizeInto(info.name, x, rows, COLS, q, w)), runs);
      const td = time(() => (ws ? ws.dequantize(info.name, q, rows, COLS, y) : dequantizeInto(info.name, q, rows, COLS, y)), runs);
      const p = peer.figures.get(`${info.name}|${im ? "yes" : "no"}|${inputName}`);
      const qs = mb / tq;
      const ds = mb / td;
      const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
      lines.push([
        info.name, String(rows), im ? "yes" : "no", inputName,
        fmt(qs), p ? String(p.quantize) : "", p ? (qs / p.quantize).toFixed(2) + "x" : "",
        fmt(ds), p ? String(p.dequantize) : "", p ? (ds / p.dequantize).toFixed(2) + "x" : "",
      ]);
      process.stdout.write(".");
    }
  }
}
process.stdout.write("\n");
table(lines, 4);
for (const m of missing) console.log(m);

// The dequantizers write 4 bytes per weight, so on a large matrix they are bound
// by memory write bandwidth, which varies between hosts and over time here. Copy
// the f32 input over the output buffer (native memmove) in the same run to show
// the ceiling that the dequantize column is measured against.
const mbAll = (n * 4) / 1e6;
const ceiling = mbAll / time(() => yBuf.set(gauss), runs);
console.log(`memory reference now: a native copy of ${mbAll.toFixed(1)} MB of f32 runs at ${ceiling.toFixed(0)} MB/s (it reads and writes ${mbAll.toFixed(1)} MB; a dequantizer reads 2-8x less but writes as much)`);
