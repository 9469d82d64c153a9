// Multi-threaded quantization: rows split into contiguous ranges, one per
// worker_thread, each quantized by the same single-threaded codec. Rows are
// independent in every ggml type (blocks never span rows; the *_impl paths are
// per row), so the concatenated bytes equal the single-threaded result.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { spawnWorkerBeside } from "../io/threads.js";
import { QuantscopeError } from "../io/errors.js";
import { quantize, quantizedSize, typeInfo } from "./index.js";
import type { QuantizeReply, QuantizeTask } from "./parallelWorker.js";

/** Below this many floats a thread hop costs more than it saves. */
const MIN_PARALLEL_FLOATS = 1 << 18;

let pool: Worker[] = [];
let nextId = 1;
const pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; worker: Worker }>();

function startWorker(): Worker {
  const w = spawnWorkerBeside(import.meta.url, "parallelWorker");
  w.unref(); // an idle pool never keeps the process alive
  w.on("message", (r: QuantizeReply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (![...pending.values()].some((q) => q.worker === w)) w.unref();
    if ("out" in r) p.resolve(r.out);
    else p.reject(r.user ? new QuantscopeError(r.error) : new Error(r.error));
  });
  w.on("error", (e) => {
    for (const [id, p] of pending) {
      if (p.worker !== w) continue;
      pending.delete(id);
      p.reject(e);
    }
    pool = pool.filter((x) => x !== w);
  });
  return w;
}

function workers(n: number): Worker[] {
  while (pool.length < n) pool.push(startWorker());
  return pool.slice(0, n);
}

function run(w: Worker, task: QuantizeTask): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    pending.set(task.id, { resolve, reject, worker: w });
    w.ref();
    // The slice is ours: transfer it instead of copying it again.
    w.postMessage(task, [task.src.buffer as ArrayBuffer]);
  });
}

/** Default thread count: the machine's parallelism. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * quantize() with rows split across `threads` worker threads. Same bytes as
 * quantize(); small inputs and threads <= 1 run on the calling thread.
 */
export async function quantizeParallel(
  type: string, src: Float32Array, rows: number, cols: number, imatrix?: Float32Array, threads = defaultThreads(),
): Promise<Uint8Array> {
  const n = Math.max(1, Math.min(Math.floor(threads), rows));
  if (n <= 1 || rows * cols < MIN_PARALLEL_FLOATS) return quantize(type, src, rows, cols, imatrix);
  // Validate here so errors name the whole tensor, not a worker's slice.
  const size = quantizedSize(type, rows, cols);
  if (src.length !== rows * cols) quantize(type, src, rows, cols, imatrix); // throws the usual message
  if (imatrix && imatrix.length !== cols) quantize(type, src.subarray(0, cols), 1, cols, imatrix);
  const info = typeInfo(type);
  const rowBytes = size / rows;
  const out = new Uint8Array(size);
  const ws = workers(n);
  const jobs: Promise<void>[] = [];
  for (let k = 0; k < n; k++) {
    const r0 = Math.floor((rows * k) / n);
    const r1 = Math.floor((rows * (k + 1)) / n);
    if (r1 <= r0) continue;
    const task: QuantizeTask = {
      id: nextId++,
      type: info.name,
      src: src.slice(r0 * cols, r1 * cols),
      rows: r1 - r0,
      cols,
      imatrix: imatrix ? imatrix.slice() : undefined,
    };
    jobs.push(
      run(ws[k]!, task).then(
        (bytes) => out.set(bytes, r0 * rowBytes),
        (e: Error) => {
          // Row numbers in a worker's message are relative to its slice.
          if (e instanceof QuantscopeError) {
            throw new QuantscopeError(e.message.replace(/\brow (\d+)/, (_m, r: string) => `row ${Number(r) + r0}`));
          }
          throw e;
        },
      ),
    );
  }
  await Promise.all(jobs);
  return out;
}

/** Stops the worker pool (tests; the pool never keeps a process alive anyway). */
export async function closeQuantizePool(): Promise<void> {
  const ws = pool;
  pool = [];
  await Promise.all(ws.map((w) => w.terminate()));
}
