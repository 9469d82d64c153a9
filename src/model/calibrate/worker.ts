// Worker thread of calibratePaths: loads the model once, then computes the chunks the main thread sends.
import { parentPort, workerData } from "node:worker_threads";
import { isQuantscopeError } from "../../io/errors.js";
import { openSource } from "../../io/source.js";
import { loadForwardModel, type ForwardModel } from "../forward/model.js";
import { serveChunks } from "../measure/chunk-pool.js";
import { calibrateChunk } from "./collect.js";
import type { CalibWorkerInit } from "./parallel.js";

const init = workerData as CalibWorkerInit;
let model: ForwardModel | undefined;
serveChunks((i) => {
  if (!model) {
    const src = openSource(init.model);
    model = loadForwardModel(src, Infinity); // calibratePaths checked the memory
    src.close();
  }
  return calibrateChunk(model, init.tokens, init.chunking, i, init.bos, init.opts);
}, isQuantscopeError, parentPort!);
