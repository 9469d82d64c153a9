// Worker threads that start the same way from the built .js files and from the
// TypeScript sources (tests, benches under tsx): there a small stub registers
// tsx's loader in the worker first, since loader hooks are per thread and
// execArgv ["--import", "tsx"] does not reach a worker's entry module in Node 20.
import { Worker } from "node:worker_threads";

/**
 * A worker running module `name` (without extension) next to the module at
 * `besideUrl` (pass `import.meta.url`), in the same flavour (.ts or .js) as it.
 */
export function spawnWorkerBeside(besideUrl: string, name: string, workerData?: unknown): Worker {
  const ext = besideUrl.endsWith(".ts") ? ".ts" : ".js";
  const url = new URL(`./${name}${ext}`, besideUrl);
  if (ext === ".js") return new Worker(url, { workerData });
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return new Worker(`import(${tsx}).then((api) => { api.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true, workerData });
}
