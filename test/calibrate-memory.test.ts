// calibrate holds the model in memory in every thread: it refuses up front, in one line, a run that
// would not fit the machine's memory (instead of the forward pass's fixed limit for validation models),
// and says what to change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { forwardConfig } from "../src/model/forward/model.js";
import { calibratePaths, calibrateThreadBytes } from "../src/model/calibrate/parallel.js";
import { isQuantscopeError } from "../src/io/errors.js";

const MODEL = fileURLToPath(new URL("../../shared/fixtures/models/stories260K.gguf", import.meta.url));
const CTX = 32;

function threadBytes(): number {
  const src = openSource(MODEL);
  try {
    const params = src.tensors().reduce((s, t) => s + t.rows * t.cols, 0);
    return calibrateThreadBytes(forwardConfig(src), params, CTX);
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
  assert.ok(threadBytes() >= 4 * params);
});

test("calibrate refuses two threads that would not fit and says -j 1; one thread runs", async () => {
  const one = threadBytes();
  const memory = (1.5 * one) / 0.8; // room for one thread, not two
  await assert.rejects(calibratePaths(MODEL, tokens, chunking, undefined, { seed: 1 }, 2, undefined, memory), (e: unknown) => {
    assert.ok(isQuantscopeError(e));
    const msg = (e as Error).message;
    assert.ok(!msg.includes("\n"), msg);
    assert.match(msg, /stories260K\.gguf: calibrate would need about .* GiB \(2 threads,.*: use -j 1$/);
    return true;
  });
  const st = await calibratePaths(MODEL, tokens, chunking, undefined, { seed: 1 }, 1, undefined, memory);
  assert.equal(st.chunks, 2);
});

test("calibrate refuses a single thread that would not fit and says what to shrink", async () => {
  const memory = threadBytes() / 2;
  await assert.rejects(calibratePaths(MODEL, tokens, chunking, undefined, { seed: 1 }, 1, undefined, memory), /use a smaller -c, or a smaller model$/);
});
