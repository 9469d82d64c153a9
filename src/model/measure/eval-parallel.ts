// Evaluation over worker threads: chunks are handed out one at a time, each
// worker holding its own copy of the model(s); scores come back per chunk and
// are summed in chunk order, so the figures equal the single-thread run's.
import { runChunkPool } from "./chunk-pool.js";
import type { Chunking } from "./chunks.js";
import { EvalAccumulator, evaluate, type ChunkScores, type EvalResult } from "./eval.js";
import { checkEvalPaths, evalSimulatedTypes, loadEvalSetup, simulates, type EvalPaths } from "./eval-setup.js";
import { checkSimulation, simulationTodo, type SimulatedType } from "./simulate.js";
import { openSource, readImatrix } from "../../io/source.js";
import { forwardConfig } from "../forward/model.js";
import { planStream, runStreamed, shouldStream, type StreamPlan, type StreamRunOptions, type StreamSimulation } from "./streamed.js";

export interface EvalWorkerInit {
  readonly paths: EvalPaths;
  readonly tokens: Int32Array;
  readonly chunking: Chunking;
  readonly bos?: number;
}

export interface EvalRun extends EvalResult {
  readonly simulated?: readonly SimulatedType[];
}

export async function evaluatePaths(
  paths: EvalPaths, tokens: Int32Array, c: Chunking, bos: number | undefined, jobs: number,
  onChunk?: (done: number, total: number, runningPpl: number) => void,
  opts: StreamRunOptions = {},
): Promise<EvalRun> {
  checkEvalPaths(paths);
  const threads = Math.max(1, Math.min(jobs, c.count));
  // User errors (unsupported architecture, bad rules) surface here, before any worker starts.
  let simulated: readonly SimulatedType[] | undefined;
  let plan: StreamPlan | undefined;
  let simulate: StreamSimulation | undefined;
  const src = openSource(paths.model);
  try {
    forwardConfig(src);
    if (simulates(paths)) simulated = evalSimulatedTypes(paths, src);
    if (shouldStream(src, opts.stream)) {
      if (simulated) {
        // quantized layer by layer as the evaluated side streams it in; the base is the model itself
        const todo = simulationTodo(src, simulated);
        checkSimulation(todo, paths.imatrix ? readImatrix(paths.imatrix) : undefined);
        simulate = { types: todo.map((s) => [s.tensor, s.type] as const), imatrix: paths.imatrix };
      }
      plan = planStream(src, c, jobs, opts.batch, undefined, paths.base || simulate ? 2 : 1);
    }
  } finally {
    src.close();
  }
  if (plan) {
    const t0 = performance.now();
    const acc = new EvalAccumulator();
    let done = 0;
    if (paths.base) {
      const bsrc = openSource(paths.base);
      try { forwardConfig(bsrc); } finally { bsrc.close(); }
    }
    const base = simulate ? paths.model : paths.base;
    await runStreamed<ChunkScores>({ mode: "eval", model: paths.model, base, simulate, tokens, chunking: c, bos }, plan, (_i, scores) => {
      acc.add(scores);
      onChunk?.(++done, c.count, acc.runningPpl());
    });
    return { ...acc.result(c, (performance.now() - t0) / 1000, plan.threads), simulated };
  }
  // the simulated type list is wanted in any case (JSON output); it is cheap next to the evaluation
  if (threads === 1) {
    const setup = loadEvalSetup(paths);
    return { ...evaluate(setup.side, tokens, c, { bos, base: setup.base, onChunk }), simulated };
  }
  const t0 = performance.now();
  const acc = new EvalAccumulator();
  const init: EvalWorkerInit = { paths, tokens, chunking: c, bos };
  await runChunkPool<ChunkScores>("eval-worker", init, c.count, threads, (i, scores) => {
    acc.add(scores);
    onChunk?.(i + 1, c.count, acc.runningPpl());
  });
  return { ...acc.result(c, (performance.now() - t0) / 1000, threads), simulated };
}
