// Worker side of parallel.ts: quantizes one contiguous range of rows with the
// same single-threaded codec, so the bytes are identical by construction.
import { parentPort } from "node:worker_threads";
import { isQuantscopeError } from "../io/errors.js";
import { quantize } from "./index.js";

export interface QuantizeTask {
  readonly id: number;
  readonly type: string;
  readonly src: Float32Array;
  readonly rows: number;
  readonly cols: number;
  readonly imatrix?: Float32Array;
}

export type QuantizeReply =
  | { readonly id: number; readonly out: Uint8Array }
  | { readonly id: number; readonly error: string; readonly user: boolean };

parentPort?.on("message", (t: QuantizeTask) => {
  try {
    const out = quantize(t.type, t.src, t.rows, t.cols, t.imatrix);
    parentPort!.postMessage({ id: t.id, out } satisfies QuantizeReply, [out.buffer as ArrayBuffer]);
  } catch (e) {
    const reply: QuantizeReply = { id: t.id, error: (e as Error)?.message ?? String(e), user: isQuantscopeError(e) };
    parentPort!.postMessage(reply);
  }
});
