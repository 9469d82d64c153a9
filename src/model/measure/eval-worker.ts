// Worker thread of eval-parallel.ts: builds the evaluation once, then scores
// the chunks the main thread sends.
import { parentPort, workerData } from "node:worker_threads";
import { isQuantscopeError } from "../../io/errors.js";
import { loadEvalSetup } from "./eval-setup.js";
import { scoreChunk } from "./eval.js";
import { serveChunks } from "./chunk-pool.js";
import type { EvalWorkerInit } from "./eval-parallel.js";

const init = workerData as EvalWorkerInit;
let setup: ReturnType<typeof loadEvalSetup> | undefined;
serveChunks((i) => {
  setup ??= loadEvalSetup(init.paths);
  return scoreChunk(setup.side, setup.base, init.tokens, init.chunking, i, init.bos);
}, isQuantscopeError, parentPort!);
