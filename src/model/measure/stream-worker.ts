// Worker thread of the streamed eval / imatrix: opens its own streamed
// model(s), then computes the batches of chunks the main thread sends.
import { parentPort, workerData } from "node:worker_threads";
import { isQuantscopeError } from "../../io/errors.js";
import { serveChunks } from "./chunk-pool.js";
import { batchChunks, openStreamed, streamedImatrix, streamedScores, type StreamWorkerInit } from "./streamed.js";
import { LayerPool, type StreamedModel } from "../forward/stream.js";

const init = workerData as StreamWorkerInit;
let side: StreamedModel | undefined, base: StreamedModel | undefined;
const pool = new LayerPool(); // shared by side and base, as in runStreamed's own thread
serveChunks((b) => {
  const numerics = init.mode === "eval" ? "llama" : "exact"; // as in runStreamed's own thread
  side ??= openStreamed(init.model, numerics, init.simulate, pool);
  if (init.base) base ??= openStreamed(init.base, numerics, undefined, pool);
  const chunks = batchChunks(init.chunking, init.batch, b);
  return init.mode === "eval"
    ? streamedScores(side, base, init.tokens, init.chunking, chunks, init.bos)
    : streamedImatrix(side, init.tokens, init.chunking, chunks, init.bos);
}, isQuantscopeError, parentPort!);
