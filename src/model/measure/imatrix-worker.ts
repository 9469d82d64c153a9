// Worker thread of imatrixPaths: loads the model once, then computes the chunks the main thread sends.
import { parentPort, workerData } from "node:worker_threads";
import { isQuantscopeError } from "../../io/errors.js";
import { openSource } from "../../io/source.js";
import { loadForwardModel, type ForwardModel } from "../forward/model.js";
import { imatrixChunk } from "./imatrix-collect.js";
import { serveChunks } from "./chunk-pool.js";
import type { ImatrixWorkerInit } from "./imatrix-parallel.js";

const init = workerData as ImatrixWorkerInit;
let model: ForwardModel | undefined;
serveChunks((i) => {
  if (!model) {
    const src = openSource(init.model);
    model = loadForwardModel(src);
    src.close();
  }
  return imatrixChunk(model, init.tokens, init.chunking, i, init.bos);
}, isQuantscopeError, parentPort!);
