// Worker thread of calibratePaths: takes the model's shared weights, then computes the chunks the main thread sends.
import { parentPort, workerData } from "node:worker_threads";
import { isQuantscopeError } from "../../io/errors.js";
import { openSource } from "../../io/source.js";
import { forwardConfig, type ForwardModel } from "../forward/model.js";
import { serveChunks } from "../measure/chunk-pool.js";
import { calibrateChunk } from "./collect.js";
import type { CalibWorkerInit } from "./parallel.js";

const init = workerData as CalibWorkerInit;
let model: ForwardModel | undefined;
serveChunks((i) => {
  if (!model) {
    // the weights come shared from calibratePaths (one copy for all threads); the config from the file's metadata
    const src = openSource(init.model);
    model = { config: forwardConfig(src), weights: init.weights, numerics: "exact" };
    src.close();
  }
  return calibrateChunk(model, init.tokens, init.chunking, i, init.bos, init.opts);
}, isQuantscopeError, parentPort!);
