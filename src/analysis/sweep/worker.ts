// Worker thread of sweep/parallel.ts: opens the model once, then measures
// the tensors the main thread sends, one at a time.
import { parentPort, workerData } from "node:worker_threads";
import { openSource, readImatrix } from "../../io/source.js";
import { isQuantscopeError } from "../../io/errors.js";
import { ActivationDir } from "./activations.js";
import type { SweepOptions } from "./sweep.js";
import { measureTensor } from "./fast.js";
import type { WorkerInit } from "./parallel.js";
import { readCalib } from "../../model/calibrate/calib-file.js";

const init = workerData as WorkerInit;
const src = openSource(init.model);
const opts: SweepOptions = {
  types: init.types,
  imatrix: init.imatrix ? readImatrix(init.imatrix) : undefined,
  activations: init.activations ? new ActivationDir(init.activations) : undefined,
  sample: init.sample, seed: init.seed, flatten: init.flatten,
  calib: init.calib ? readCalib(init.calib) ?? undefined : undefined,
};

parentPort!.on("message", (m: { index: number; global: number; name: string }) => {
  try {
    const records = measureTensor(src, m.name, init.nLayers, opts, m.global, init.types);
    parentPort!.postMessage({ index: m.index, records });
  } catch (e) {
    parentPort!.postMessage({ index: m.index, error: { message: (e as Error).message ?? String(e), user: isQuantscopeError(e) } });
  }
});
