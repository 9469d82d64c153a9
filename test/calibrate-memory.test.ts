// calibrate holds the whole model in memory (once, shared by its threads) and a chunk's activations per
// thread: it refuses up front, in one line, a run that would not fit the machine's memory (instead of the
// forward pass's fixed limit for validation models), and says what to change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { forwardConfig } from "../src/model/forward/model.js";
import { calibrateBytes, calibratePaths } from "../src/model/calibrate/parallel.js";
import { isQuantscopeError } from "../src/io/errors.js";

const MODEL = fileURLToPath(new URL("../../shared/fixtures/models/stories260K.gguf", import.meta.url));
const CTX = 32;

function needBytes(threads: number): number {
  const src = openSource(MODEL);
  try {
    const params = src.tensors().reduce((s, t) => s + t.rows * t.cols, 0);
    return calibrateBytes(forwardConfig(src), params, CTX, threads);
  } finally {
    src.close();
  }
}

const tokens = Int32Array.from({ length: 2 * CTX }, (_, i) => 1 + (i % 200));
const chunking = { nCtx: CTX, count: 2, available: 2 };

test("the estimate counts at least the model's f32 weights", () => {
  const src = openSource(MODEL);
  const params = src.tensors().reduce((s, t) => s + t.rows * t.cols, 0);
  src.close();
  assert.ok(needBytes(1) >= 4 * params);
  // the weights are shared: two threads need less than two single-thread runs less one copy of the weights
  assert.ok(needBytes(2) < 2 * needBytes(1) - 4 * params);
});

test("calibrate refuses two threads that would not fit and says -j 1; one thread runs", async () => {
  const memory = (needBytes(1) + needBytes(2)) / 2 / 0.8; // room for one thread, not two
  await assert.rejects(calibratePaths(MODEL, tokens, chunking, undefined, { seed: 1 }, 2, undefined, memory), (e: unknown) => {
    assert.ok(isQuantscopeError(e));
    const msg = (e as Error).message;
    assert.ok(!msg.includes("\n"), msg);
    assert.match(msg, /stories260K\.gguf: calibrate would need about .* GiB \(.* in each of 2 threads\), .*: use -j 1$/);
    return true;
  });
  const st = await calibratePaths(MODEL, tokens, chunking, undefined, { seed: 1 }, 1, undefined, memory);
  assert.equal(st.chunks, 2);
});

test("calibrate refuses a single thread that would not fit and says what to shrink", async () => {
  const memory = needBytes(1) / 2;
  await assert.rejects(calibratePaths(MODEL, tokens, chunking, undefined, { seed: 1 }, 1, undefined, memory), /use a smaller -c, or a smaller model$/);
});
