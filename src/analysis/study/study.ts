// Runs the nine sections over a set of weight and activation files. Each
// tensor is loaded alone and reduced to small per-column summaries
// (study-tensor.ts): activations first (their column power feeds sections 6
// and 9), then weights. runStudyParallel does the same on the calling thread and a worker.
import { basename, join } from "node:path";
import { existsSync, statSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { readF32BinHeader } from "../../io/f32bin.js";
import { QuantscopeError } from "../../io/errors.js";
import type { StudyInput, StudyResult } from "./types.js";
import type { GroupQuantizer } from "./group-quantizer.js";
import { ACTIVATIONS, ACT_FFN_INPUT, ACT_SWIGLU, SEED_FOCUS, SEED_SECTION9, WEIGHTS } from "./layout.js";
import { GROUP_SIZE } from "./section3-groups.js";
import { swigluEffect } from "./section8-swiglu.js";
import { SEED_ROWS, studyActivation, studyWeight, type ActivationJob, type ActivationOutcome, type WeightJob, type WeightOutcome } from "./study-tensor.js";

export interface WeightSource {
  /** Study key ("ffn_down") or any name for an explicit file. */
  readonly key: string;
  readonly path: string;
  /** The study's description (seed-compat label). */
  readonly seedLabel: string | null;
  /** Activation key that feeds this weight, if known. */
  readonly input: string | null;
}

export interface ActivationSource {
  readonly key: string;
  readonly path: string;
}

export interface StudySources {
  readonly weights: readonly WeightSource[];
  readonly activations: readonly ActivationSource[];
}

export interface StudyOptions {
  readonly seedCompat: boolean;
  /** Group quantizer for sections 3, 6 and 9 (ignored in seed-compat, which uses the study's proxy). */
  readonly quantizer: GroupQuantizer;
  /** Called once per file as it is read (progress). */
  readonly onProgress?: (what: string) => void;
}

/** The study's folder layout: the seven weights and four activations directly in dir. */
export function folderSources(dir: string): StudySources {
  if (!existsSync(dir)) throw new QuantscopeError(`${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new QuantscopeError(`${dir}: not a directory (give the folder holding the study's .f32bin files)`);
  return {
    weights: WEIGHTS.map((w) => ({ key: w.key, path: join(dir, w.file), seedLabel: w.seedLabel, input: w.input })),
    activations: ACTIVATIONS.map((a) => ({ key: a.key, path: join(dir, a.file) })),
  };
}

interface Probed { readonly input: StudyInput; readonly ok: boolean }

function probe(role: "weight" | "activation", key: string, path: string): Probed {
  if (!existsSync(path)) {
    return { ok: false, input: { role, key, file: path, status: "missing", rows: null, cols: null, note: `${key}: SKIP (${basename(path)}: no such file)` } };
  }
  const h = readF32BinHeader(path); // a bad file is a one-line QuantscopeError, before any work starts
  return { ok: true, input: { role, key, file: path, status: "loaded", rows: h.rows, cols: h.cols, note: null } };
}

interface Plan {
  readonly inputs: StudyInput[];
  readonly activationJobs: ActivationJob[];
  readonly weightJobs: (power: Map<string, ActivationOutcome>) => WeightJob[];
  readonly missingWeights: WeightSource[];
  /** Bytes of the largest file (to decide whether threads pay). */
  readonly bytes: number;
}

function plan(src: StudySources, opt: StudyOptions): Plan {
  const seed = opt.seedCompat;
  const wProbe = src.weights.map((w) => probe("weight", w.key, w.path));
  const aProbe = src.activations.map((a) => probe("activation", a.key, a.path));
  const inputs = [...wProbe.map((p) => p.input), ...aProbe.map((p) => p.input)];
  const focus = new Set<string>(seed ? SEED_FOCUS : src.weights.map((w) => w.key));
  const focus9 = new Set<string>(seed ? SEED_SECTION9 : src.weights.map((w) => w.key));
  const bytes = inputs.reduce((s, i) => s + (i.rows ?? 0) * (i.cols ?? 0) * 4, 0);
  return {
    inputs,
    bytes,
    activationJobs: src.activations.filter((_, i) => aProbe[i]!.ok).map((a) => ({ key: a.key, path: a.path, seed })),
    weightJobs: (acts) => src.weights.filter((_, i) => wProbe[i]!.ok).map((w) => ({
      key: w.key, path: w.path, seedLabel: w.seedLabel, input: w.input, seed, type: opt.quantizer.info.name,
      focus6: focus.has(w.key), focus9: focus9.has(w.key), power: (w.input && acts.get(w.input)?.power) || null,
    })),
    missingWeights: src.weights.filter((_, i) => !wProbe[i]!.ok),
  };
}

function assemble(src: StudySources, opt: StudyOptions, p: Plan, acts: ActivationOutcome[], weights: WeightOutcome[], t0: number): StudyResult {
  const seed = opt.seedCompat;
  const focus = new Set<string>(seed ? SEED_FOCUS : src.weights.map((w) => w.key));
  const focus9 = new Set<string>(seed ? SEED_SECTION9 : src.weights.map((w) => w.key));
  const byKey = new Map(weights.map((w) => [w.key, w]));
  const order6 = seed ? [...SEED_FOCUS] : src.weights.map((w) => w.key);
  const order9 = seed ? [...SEED_SECTION9] : src.weights.map((w) => w.key);
  const skipped6: string[] = [], skipped9: string[] = [];
  for (const w of p.missingWeights) {
    if (focus.has(w.key)) skipped6.push(`${w.key}: SKIP (weight file missing: ${basename(w.path)})`);
    if (focus9.has(w.key)) skipped9.push(`${w.key}: SKIP (weight file missing: ${basename(w.path)})`);
  }
  for (const w of weights) { skipped6.push(...w.skipped6); skipped9.push(...w.skipped9); }
  const a = new Map(acts.map((x) => [x.key, x]));
  const inp = a.get(ACT_FFN_INPUT), sw = a.get(ACT_SWIGLU);
  return {
    schemaVersion: 1,
    mode: seed ? "seed-compat" : "default",
    quantizer: seed
      ? { name: "seed-proxy", description: "the study's 2-bit proxy, reproduced exactly (unsigned in section 3, float32 sums)", blockSize: GROUP_SIZE }
      : opt.quantizer.info,
    sampling: seed
      ? { section3Rows: SEED_ROWS.s3, section6Rows: SEED_ROWS.s6, section7Rows: SEED_ROWS.s7, section8Tokens: SEED_ROWS.s8, section9Rows: SEED_ROWS.s9 }
      : { section3Rows: null, section6Rows: null, section7Rows: null, section8Tokens: 3, section9Rows: null },
    inputs: p.inputs,
    warnings: [...acts.flatMap((x) => x.warnings), ...weights.flatMap((w) => w.warnings)],
    section1: { tensors: weights.map((w) => w.s1) },
    section2: { tensors: weights.map((w) => w.s2) },
    section3: { groupSize: GROUP_SIZE, tensors: weights.map((w) => w.s3) },
    section4: { tensors: acts.map((x) => x.s4) },
    section5: { tensors: acts.map((x) => x.s5) },
    section6: { tensors: order6.map((k) => byKey.get(k)?.s6).filter((x) => !!x).map((x) => x!), skipped: skipped6 },
    section7: { tensors: order6.map((k) => byKey.get(k)?.s7).filter((x) => !!x).map((x) => x!) },
    section8: swigluEffect({
      ffnInput: inp?.tokens ?? null, swiglu: sw?.tokens ?? null, dims: sw?.dims ?? null,
      ffnInputShape: inp?.shape ?? null, swigluShape: sw?.shape ?? null,
      showTokens: 3, allTokens: !seed,
    }),
    section9: { tensors: order9.map((k) => byKey.get(k)?.s9).filter((x) => !!x).map((x) => x!), skipped: skipped9 },
    elapsedMs: performance.now() - t0,
  };
}

/** The whole study on the calling thread. */
export function runStudy(src: StudySources, opt: StudyOptions): StudyResult {
  const t0 = performance.now();
  const p = plan(src, opt);
  const acts = p.activationJobs.map((j) => { opt.onProgress?.(j.path); return studyActivation(j); });
  const byKey = new Map(acts.map((x) => [x.key, x]));
  const weights = p.weightJobs(byKey).map((j) => { opt.onProgress?.(j.path); return studyWeight(j); });
  return assemble(src, opt, p, acts, weights, t0);
}

/** Inputs smaller than this run on the calling thread (a worker costs more than it saves). */
export const PARALLEL_MIN_BYTES = 64 << 20;

function startWorker(): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./study-worker.js", import.meta.url));
  // Running from sources under tsx: workers do not inherit its loader, so register it first.
  const api = import.meta.resolve("tsx/esm/api");
  const target = new URL("./study-worker.ts", import.meta.url).href;
  const code = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(target)});`;
  return new Worker(new URL("data:text/javascript," + encodeURIComponent(code)));
}

type Reply = { id: number; ok: boolean; result?: unknown; message?: string; user?: boolean; stack?: string };

/** Sends jobs to a worker; it runs them one after another, in the order sent, with no help from this thread. */
function workerLane(w: Worker): (kind: "activation" | "weight", id: number, job: unknown) => Promise<unknown> {
  const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  let seq = 0;
  w.on("message", (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(m.user ? new QuantscopeError(m.message!) : Object.assign(new Error(m.message), { stack: m.stack }));
  });
  w.on("error", (e: Error) => { for (const p of pending.values()) p.reject(e); pending.clear(); });
  return (kind, _id, job) => new Promise((resolve, reject) => {
    const id = seq++;
    pending.set(id, { resolve, reject });
    w.postMessage({ id, kind, job });
  });
}

/**
 * Splits jobs over lanes, largest first, each to the lane with the least work so far (sizes in
 * bytes; `head` is each lane's work before the first job). Static, so that a worker gets its
 * whole share at once: with dynamic hand-out a worker idles until the calling thread, busy
 * with its own job, gets round to sending the next.
 */
export function assignLanes(sizes: readonly number[], head: readonly number[]): number[][] {
  const load = [...head];
  const lanes: number[][] = head.map(() => []);
  const order = sizes.map((size, i) => ({ i, size })).sort((x, y) => y.size - x.size || x.i - y.i);
  for (const { i, size } of order) {
    let best = 0;
    for (let l = 1; l < load.length; l++) if (load[l]! < load[best]!) best = l;
    lanes[best]!.push(i);
    load[best]! += size;
  }
  return lanes;
}

/** A worker's start-up (isolate, module loading), in bytes of study work the calling thread does meanwhile. */
const WORKER_START_BYTES = 16 << 20;

/**
 * The whole study, tensors spread over `threads` threads: the calling thread plus threads − 1
 * workers. Same result as runStudy. The calling thread works too because each isolate costs
 * ~45 MiB of baseline memory, and an idle main thread would only wait.
 */
export async function runStudyParallel(src: StudySources, opt: StudyOptions, threads = 2, minBytes = PARALLEL_MIN_BYTES): Promise<StudyResult> {
  const t0 = performance.now();
  const p = plan(src, opt);
  if (p.bytes < minBytes || threads < 2) return runStudy(src, opt);
  const workers = Array.from({ length: threads - 1 }, startWorker);
  const send = workers.map(workerLane);
  try {
    const run = async <J extends { path: string }, R>(kind: "activation" | "weight", jobs: J[], head: number[]): Promise<R[]> => {
      const results: R[] = new Array(jobs.length);
      // lane 0 is the calling thread, lanes 1.. the workers
      const lanes = assignLanes(jobs.map((j) => statSync(j.path).size), head);
      const remote = lanes.slice(1).flatMap((ids, l) => ids.map(async (i) => {
        opt.onProgress?.(jobs[i]!.path);
        results[i] = (await send[l]!(kind, i, jobs[i])) as R;
      }));
      try {
        for (const i of lanes[0]!) {
          opt.onProgress?.(jobs[i]!.path);
          const j = jobs[i]!;
          results[i] = (kind === "activation" ? studyActivation(j as unknown as ActivationJob) : studyWeight(j as unknown as WeightJob)) as R;
        }
      } finally {
        await Promise.allSettled(remote); // no worker job outlives this call
      }
      await Promise.all(remote);
      return results;
    };
    const acts = await run<ActivationJob, ActivationOutcome>("activation", p.activationJobs, [0, ...workers.map(() => WORKER_START_BYTES)]);
    const weights = await run<WeightJob, WeightOutcome>("weight", p.weightJobs(new Map(acts.map((x) => [x.key, x]))), [0, ...workers.map(() => 0)]);
    return assemble(src, opt, p, acts, weights, t0);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
