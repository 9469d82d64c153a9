// --kl-tokens N | START:COUNT: the token window of --measure-kl (docs/sweep.md
// measures on windows such as stories260K tokens 4096..5119, which the CLI
// could not select when it took only the first N tokens).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseTokenWindow, readTokenWindow, readTokens } from "../src/model/forward/tokens.js";
import { openSource } from "../src/io/source.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { measureKl, prepareKl } from "../src/model/forward/kl.js";
import { roundTrip } from "../src/analysis/sweep/sweep.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });

test("parseTokenWindow: N is the first N tokens, START:COUNT a window; anything else is refused", () => {
  assert.deepEqual(parseTokenWindow(undefined), { start: 0, count: 512, exact: false });
  assert.deepEqual(parseTokenWindow("300"), { start: 0, count: 300, exact: false });
  assert.deepEqual(parseTokenWindow("4096:1024"), { start: 4096, count: 1024, exact: true });
  for (const bad of ["0", "5:0", "-1:4", "1:2:3", "x", "", "1.5"]) assert.throws(() => parseTokenWindow(bad), /--kl-tokens expects N or START:COUNT/, bad);
});

test("readTokenWindow: the window's ids in order; a window past the end names the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-tokwin-"));
  const path = join(dir, "t.i32");
  writeFileSync(path, Buffer.from(Int32Array.from({ length: 10 }, (_, i) => 100 + i).buffer));
  assert.deepEqual(Array.from(readTokenWindow(path, 512, parseTokenWindow("3:4"))), [103, 104, 105, 106]);
  assert.deepEqual(Array.from(readTokenWindow(path, 512, parseTokenWindow("20"))).length, 10); // N: at most N
  assert.throws(() => readTokenWindow(path, 512, parseTokenWindow("8:4")), /t\.i32: holds 10 tokens, too few for the window 8:4/);
});

test("sweep --measure-kl --kl-tokens 4096:256 measures on tokens 4096..4351, not on the first 256", () => {
  const tokFile = fx("activations/tokens_ctx128.i32");
  const r = run("sweep", fx("models/stories260K.gguf"), "--tensors", "^blk\\.4\\.ffn_up\\.weight$", "--types", "Q4_0",
    "--measure-kl", tokFile, "--chunk", "128", "--kl-tokens", "4096:256", "--json");
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout).records[0].measuredKl as number;
  // the same KL computed directly on the window (tokens read with the plain reader and sliced)
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    const fm = loadForwardModel(src);
    const all = readTokens(tokFile, fm.config.vocab);
    const W = src.read("blk.4.ffn_up.weight");
    const deq = new Map([["blk.4.ffn_up.weight", roundTrip("Q4_0", W.data, W.rows, W.cols)]]);
    const onWindow = measureKl(prepareKl(fm, all.slice(4096, 4352), 128), deq);
    const onFirst = measureKl(prepareKl(fm, all.slice(0, 256), 128), deq);
    assert.ok(Math.abs(got - onWindow) <= 1e-9 * onWindow, `CLI ${got} vs window ${onWindow}`);
    assert.ok(Math.abs(onWindow - onFirst) > 1e-3 * onWindow, `the two windows must differ for this test to mean anything: ${onWindow} ${onFirst}`);
  } finally {
    src.close();
  }
});
