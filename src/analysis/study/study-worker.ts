// Worker thread for the parallel study: runs one tensor job at a time.
import { parentPort } from "node:worker_threads";
import { isQuantscopeError } from "../../io/errors.js";
import { studyActivation, studyWeight, type ActivationJob, type WeightJob } from "./study-tensor.js";

type Job = { id: number; kind: "activation"; job: ActivationJob } | { id: number; kind: "weight"; job: WeightJob };

parentPort!.on("message", (m: Job) => {
  try {
    const result = m.kind === "activation" ? studyActivation(m.job) : studyWeight(m.job);
    parentPort!.postMessage({ id: m.id, ok: true, result });
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id: m.id, ok: false, message: err?.message ?? String(e), user: isQuantscopeError(e), stack: err?.stack });
  }
});
