// Sharded sweeps: the parts of `sweep --shard K/N`, written as JSON and merged
// by `plan --from`, give exactly the records of one unsharded sweep; bad sets of
// shards are refused with one-line errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel, sweepableTensors, type SweepOptions } from "../src/analysis/sweep/sweep.js";
import { mergeShards, modelIdentity, parseShard, readSweepJson, shardPartition } from "../src/analysis/sweep/shards.js";
import { formatSweepJson } from "../src/report/sweep-text.js";
import { QuantscopeError } from "../src/io/errors.js";
import type { SweepResult } from "../src/analysis/sweep/types.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const TINY = fx("models/tinyqwen-f16.gguf");
const IM = fx("tinyqwen/imatrix.gguf");
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "qs-shards-"));

/** Sweeps every shard, writes each as the CLI does, returns the files. */
function writeShards(model: string, opts: SweepOptions, n: number, tag: string): string[] {
  const src = openSource(model);
  try {
    return Array.from({ length: n }, (_, i) => {
      const res = sweepModel(src, { ...opts, shard: { index: i + 1, count: n } });
      const path = join(dir, `${tag}-${i + 1}.json`);
      writeFileSync(path, formatSweepJson(res));
      return path;
    });
  } finally {
    src.close();
  }
}

const load = (paths: string[]) => paths.map((path) => ({ path, res: readSweepJson(path) }));

function refuses(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof QuantscopeError, String(e));
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

test("partition: every tensor in exactly one shard, loads within one tensor of each other, deterministic", () => {
  const src = openSource(TINY);
  try {
    const sizes = sweepableTensors(src).swept.map((name) => { const t = src.tensor(name); return { name, elements: t.rows * t.cols }; });
    for (const n of [1, 2, 3, 7, 50]) {
      const parts = shardPartition(sizes, n);
      assert.equal(parts.length, n);
      assert.deepEqual(parts.flat().sort(), sizes.map((s) => s.name).sort());
      const size = new Map(sizes.map((s) => [s.name, s.elements]));
      const loads = parts.map((p) => p.reduce((s, t) => s + size.get(t)!, 0));
      const biggest = Math.max(...sizes.map((s) => s.elements));
      assert.ok(Math.max(...loads) - Math.min(...loads) <= biggest, `${n}: ${loads}`);
      assert.deepEqual(shardPartition(sizes, n), parts);
      for (const p of parts) assert.deepEqual(p, sizes.map((s) => s.name).filter((x) => p.includes(x))); // original order
    }
  } finally {
    src.close();
  }
});

test("sharded == unsharded: tinyqwen, exact with imatrix (3 shards) and --sample 0.3 (2 shards)", () => {
  const im = readImatrix(IM);
  for (const [opts, n] of [[{ imatrix: im, types: ["Q3_K", "Q6_K"] }, 3], [{ imatrix: im, types: ["Q4_K"], sample: 0.3, seed: 5 }, 2]] as [SweepOptions, number][]) {
    const src = openSource(TINY);
    let whole: SweepResult;
    try {
      whole = sweepModel(src, opts);
    } finally {
      src.close();
    }
    // through JSON like the CLI (NaN of skipped records -> null -> NaN)
    const wholeJson = readSweepJson((() => { const p = join(dir, `whole-${n}.json`); writeFileSync(p, formatSweepJson(whole)); return p; })());
    const merged = mergeShards(load(writeShards(TINY, opts, n, `t${n}`)));
    assert.deepStrictEqual(merged.records, whole.records);
    assert.deepStrictEqual(merged.records, wholeJson.records);
    assert.deepStrictEqual(merged.passengers, whole.passengers);
    assert.deepStrictEqual(merged.notes, whole.notes);
    assert.deepStrictEqual(merged.types, whole.types);
  }
});

test("bad shards are refused with one line", () => {
  const im = readImatrix(IM);
  const good = writeShards(TINY, { imatrix: im, types: ["Q4_K"], tensors: /^blk\.0\./ }, 3, "g");
  const otherOpts = writeShards(TINY, { imatrix: im, types: ["Q5_K"], tensors: /^blk\.0\./ }, 3, "o");
  const noIm = writeShards(TINY, { types: ["Q4_K"], tensors: /^blk\.0\./ }, 3, "n");
  const four = writeShards(TINY, { imatrix: im, types: ["Q4_K"], tensors: /^blk\.0\./ }, 4, "f");
  const other = writeShards(fx("models/stories260K.gguf"), { types: ["Q4_K"], tensors: /^blk\.0\./ }, 3, "s");
  assert.equal(mergeShards(load(good)).records.length, 7);
  refuses(() => mergeShards(load([good[0]!, good[1]!])), /missing shard 3\/3/);
  refuses(() => mergeShards(load([good[0]!, good[1]!, good[1]!.replace("g-2", "g-2")]).concat(load([good[2]!]))), /shard 2\/3 also comes from/);
  refuses(() => mergeShards(load([good[0]!, good[1]!, other[2]!])), /different model/);
  refuses(() => mergeShards(load([good[0]!, good[1]!, otherOpts[2]!])), /different options .*types/);
  refuses(() => mergeShards(load([good[0]!, good[1]!, noIm[2]!])), /different options .*imatrix/);
  refuses(() => mergeShards(load([good[0]!, good[1]!, four[2]!])), /one of 3/);
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    refuses(() => mergeShards(load(good), modelIdentity(src)), /not .*stories260K/);
  } finally {
    src.close();
  }
  // a truncated shard (records of one tensor cut), a shard claiming another's tensor, not JSON
  const j = JSON.parse(readFileSync(good[0]!, "utf8"));
  const cut = join(dir, "cut.json");
  writeFileSync(cut, JSON.stringify({ ...j, records: j.records.slice(1) }));
  refuses(() => mergeShards(load([cut, good[1]!, good[2]!])), /has 0 records, expected 1/);
  const j2 = JSON.parse(readFileSync(good[1]!, "utf8"));
  const steal = join(dir, "steal.json");
  writeFileSync(steal, JSON.stringify({ ...j, records: [...j.records, ...j2.records] }));
  refuses(() => mergeShards(load([steal, good[1]!, good[2]!])), /not in shard 1\/3/);
  const junk = join(dir, "junk.json");
  writeFileSync(junk, "{\"records\": [");
  refuses(() => readSweepJson(junk), /not a sweep JSON file/);
  const old = join(dir, "old.json");
  writeFileSync(old, JSON.stringify({ ...j, provenance: undefined }));
  refuses(() => readSweepJson(old), /no model identity/);
  for (const s of ["3/2", "0/2", "a/b", "2/0", "1"]) refuses(() => parseShard(s), /--shard/);
});

test("CLI: sweep --shard K/N -o, then plan --from 'glob' == plan; bad --shard exits 2 with one line", () => {
  const out = join(dir, "cli");
  const common = ["--imatrix", IM, "--types", "Q4_K,Q6_K", "--tensors", "^blk\\.[01]\\."];
  for (const k of [1, 2]) {
    const r = run("sweep", TINY, ...common, "--shard", `${k}/2`, "--json", "-o", `${out}-${k}.json`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`shard ${k}/2`));
  }
  const fromFiles = run("plan", "--from", `${out}-*.json`, "--target-bpw", "13", "--imatrix", IM);
  assert.equal(fromFiles.status, 0, fromFiles.stderr);
  const direct = run("plan", TINY, ...common, "--target-bpw", "13");
  assert.equal(direct.status, 0, direct.stderr);
  assert.equal(fromFiles.stdout, direct.stdout);
  for (const args of [
    ["sweep", TINY, "--shard", "3/2"],
    ["plan", "--from", `${out}-1.json`, "--target-bpw", "13"],
    ["plan", "--from", `${out}-*.json`, "--target-bpw", "13", "--types", "Q2_K"],
    ["plan", "--from", join(dir, "nothing-*.json"), "--target-bpw", "13"],
  ]) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^quantscope: /);
  }
});
