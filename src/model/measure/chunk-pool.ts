// A pool of worker threads that each compute whole chunks: indices are handed
// out one at a time, results are delivered to the caller in chunk order (so
// sums over chunks do not depend on the number of threads).
import type { Worker } from "node:worker_threads";
import { spawnWorkerBeside } from "../../io/threads.js";
import { QuantscopeError } from "../../io/errors.js";

export async function runChunkPool<R>(file: string, init: unknown, count: number, threads: number, inOrder: (index: number, result: R) => void): Promise<void> {
  const results: (R | undefined)[] = new Array(count);
  let delivered = 0, next = 0;
  await new Promise<void>((resolve, reject) => {
    let live = threads, failed = false;
    const workers: Worker[] = [];
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      for (const w of workers) void w.terminate();
      reject(e);
    };
    for (let k = 0; k < threads; k++) {
      const w = spawnWorkerBeside(import.meta.url, file, init);
      workers.push(w);
      const feed = () => {
        if (next < count) w.postMessage({ index: next++ });
        else { void w.terminate(); if (--live === 0 && !failed) resolve(); }
      };
      w.on("message", (m: { index: number; result?: R; error?: { message: string; user: boolean } }) => {
        if (m.error) { fail(m.error.user ? new QuantscopeError(m.error.message) : new Error(m.error.message)); return; }
        results[m.index] = m.result!;
        while (delivered < count && results[delivered] !== undefined) {
          const r = results[delivered]!;
          results[delivered] = undefined;
          try {
            inOrder(delivered++, r);
          } catch (e) {
            fail(e);
            return;
          }
        }
        feed();
      });
      w.on("error", fail);
      feed();
    }
  });
}

/** Worker side: answer each { index } with { index, result } or a serialisable error. */
export function serveChunks(compute: (index: number) => unknown, isUserError: (e: unknown) => boolean, port: import("node:worker_threads").MessagePort): void {
  port.on("message", (m: { index: number }) => {
    try {
      port.postMessage({ index: m.index, result: compute(m.index) });
    } catch (e) {
      port.postMessage({ index: m.index, error: { message: (e as Error).message ?? String(e), user: isUserError(e) } });
    }
  });
}
