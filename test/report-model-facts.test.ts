// Model facts for a folder of loose tensors (docs/formats.md, model.json): the bundled example is block 0
// of tinyqwen (qwen3: 6 layers, QK-norm). Without calibration statistics the gain table predicts the KL,
// and its attn_q/attn_k rows depend on QK-norm. llama.cpp's measured KLD with one tensor of block 0 at Q2_K:
// ffn_down by far the most damaging (0.0205), attn_k and attn_q the least (≈ 0.0019).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { ActivationDir } from "../src/analysis/sweep/activations.js";
import { factsFromModel, modelFacts } from "../src/analysis/sensitivity/model-facts.js";
import { collectReportData } from "../src/analysis/diagnosis/evidence.js";
import type { SweepRecord } from "../src/analysis/sweep/types.js";

const EXAMPLE = fileURLToPath(new URL("../examples/tinyqwen-blk0", import.meta.url));
const TINYQWEN = fileURLToPath(new URL("../../shared/fixtures/models/tinyqwen-f16.gguf", import.meta.url));
const STORIES = fileURLToPath(new URL("../../shared/fixtures/models/stories260K.gguf", import.meta.url));
const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** The example's tensors and activations (no calib.gguf), with or without its model.json. */
function folder(withFacts: boolean, facts?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "qs-facts-"));
  for (const f of readdirSync(EXAMPLE).filter((f) => f.endsWith(".f32bin"))) symlinkSync(join(EXAMPLE, f), join(dir, f));
  if (facts !== undefined) writeFileSync(join(dir, "model.json"), facts);
  else if (withFacts) copyFileSync(join(EXAMPLE, "model.json"), join(dir, "model.json"));
  return dir;
}

function q2Sweep(dir: string): SweepRecord[] {
  const src = openSource(dir);
  try {
    return [...sweepModel(src, { types: ["Q2_K"], activations: new ActivationDir(dir) }).records];
  } finally {
    src.close();
  }
}

const short = (t: string) => t.replace(/^blk\.0\.|\.weight$/g, "");

test("example with model.json, no calibration: the gain table puts ffn_down first and attn_q/attn_k last, as llama.cpp measures", () => {
  const dir = folder(true);
  try {
    const src = openSource(dir);
    const f = modelFacts(src);
    src.close();
    assert.deepEqual({ n: f.nLayers, qk: f.qkNorm, missing: f.missing }, { n: 6, qk: true, missing: [] });
    const recs = q2Sweep(dir);
    assert.ok(recs.every((r) => r.sensitivitySource === "activations" && !r.sensitivityBasis), "gain table on activations, nothing uncertain");
    assert.ok(recs.filter((r) => r.kind === "attn_q" || r.kind === "attn_k").every((r) => r.gainKey?.endsWith("+qknorm")), "QK-norm rows");
    const order = recs.sort((a, b) => b.sensitivity - a.sensitivity).map((r) => short(r.tensor));
    assert.equal(order[0], "ffn_down", order.join(" > "));
    assert.deepEqual(order.slice(-2).sort(), ["attn_k", "attn_q"], order.join(" > "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("example without model.json: attn_q/attn_k predictions are marked uncertain, with a range that holds the QK-norm value", () => {
  const withFacts = folder(true), without = folder(false);
  try {
    const known = new Map(q2Sweep(withFacts).map((r) => [r.tensor, r.sensitivity]));
    const recs = q2Sweep(without);
    const unsure = recs.filter((r) => r.sensitivityBasis);
    assert.deepEqual(unsure.map((r) => short(r.tensor)).sort(), ["attn_k", "attn_q"]);
    for (const r of unsure) {
      const [lo, hi] = r.sensitivityBasis!.range;
      assert.deepEqual([...r.sensitivityBasis!.missingFacts!].sort(), ["n_layer", "qk_norm"]);
      const truth = known.get(r.tensor)!;
      assert.ok(lo <= truth * (1 + 1e-12) && truth <= hi * (1 + 1e-12), `${r.tensor}: ${truth} in [${lo}, ${hi}]`);
      assert.ok(hi / lo > 2, "QK-norm changes these rows by more than 2x: the range says so");
    }
    // the others do not depend on the missing facts at block 0: same prediction as with model.json
    for (const r of recs.filter((x) => !x.sensitivityBasis)) assert.equal(r.sensitivity, known.get(r.tensor));
  } finally {
    rmSync(withFacts, { recursive: true, force: true });
    rmSync(without, { recursive: true, force: true });
  }
});

test("--model tinyqwen-f16.gguf gives the folder the GGUF's facts: the same predictions as model.json", () => {
  const dir = folder(false), withFacts = folder(true);
  const src = openSource(dir);
  try {
    const facts = factsFromModel(TINYQWEN, src);
    assert.deepEqual({ n: facts.nLayers, qk: facts.qkNorm, arch: facts.architecture, missing: facts.missing }, { n: 6, qk: true, arch: "qwen3", missing: [] });
    const opts = { types: ["Q2_K"], tensors: /attn_[qk]/, outputTokens: 64 };
    const data = collectReportData(src, dir, { ...opts, activations: new ActivationDir(dir), facts });
    const src2 = openSource(withFacts);
    const ref = collectReportData(src2, withFacts, { ...opts, activations: new ActivationDir(withFacts) });
    src2.close();
    const known = new Map(ref.records.map((r) => [`${r.tensor} ${r.type}`, r.sensitivity]));
    assert.equal(data.records.length, ref.records.length);
    for (const r of data.records) {
      assert.equal(r.sensitivityBasis, undefined);
      assert.equal(r.sensitivity, known.get(`${r.tensor} ${r.type}`), `${r.tensor} ${r.type}`);
    }
    assert.ok(!data.notes.some((n) => /model facts missing/.test(n)));
    // another model's tensors do not fit this folder
    assert.throws(() => factsFromModel(STORIES, src), /stories260K\.gguf: blk\.0\.attn_\w+\.weight is \d+x\d+ there and \d+x\d+ in .*: not this folder.s model/);
  } finally {
    src.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(withFacts, { recursive: true, force: true });
  }
});

test("report on the folder without model.json says uncertain (~) and how to supply the facts", () => {
  const dir = folder(false);
  try {
    const out = execFileSync(process.execPath, ["--import", "tsx", CLI, "report", dir, "--types", "Q2_K", "--tokens", "64", "--out", join(dir, "r.html"), "--md", join(dir, "r.md")], { encoding: "utf8" });
    assert.match(out, /most sensitive tensors \(predicted KL at Q2_K, from activations\): blk\.0\.attn_k\.weight ~/);
    assert.match(out, /~ = uncertain: 2 of 7 predictions depend on model facts/);
    assert.match(out, /note: model facts missing: the model's number of layers \(n_layer\); whether q\/k are normalised per head \(qk_norm\).*model\.json.*--model MODEL\.gguf/);
    const md = execFileSync("cat", [join(dir, "r.md")], { encoding: "utf8" });
    assert.match(md, /\| 1 \| blk\.0\.attn_k\.weight \| ~[0-9.e-]+ \| activations \| [0-9.e-]+ – [0-9.e-]+ \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bad model.json is one line naming the file and the field", () => {
  const cases: Array<[string, RegExp]> = [
    ['{"n_layer":"six","qk_norm":true}', /model\.json: "n_layer": expected the model's number of layers, an integer >= 1, got "six"/],
    ['{"n_layer":6}', /model\.json: "qk_norm": expected true or false/],
    ['{"n_layer":6,"qk_norm":true,"layers":6}', /model\.json: "layers": unknown field \(expected architecture, n_layer, qk_norm, tied_embeddings, source\)/],
    ['{"n_layer":6,', /model\.json: not valid JSON/],
  ];
  for (const [text, want] of cases) {
    const dir = folder(false, text);
    try {
      const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "sweep", dir, "--types", "Q2_K"], { encoding: "utf8" });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("--measure-kl on a folder of loose tensors: one line saying the forward pass needs the whole model", () => {
  const text = fileURLToPath(new URL("../../shared/fixtures/tinyqwen/calibration.txt", import.meta.url));
  for (const args of [["sweep", EXAMPLE, "--types", "Q2_K"], ["report", EXAMPLE, "--types", "Q2_K", "--out", "/dev/null"]]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args, "--measure-kl", text], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--measure-kl: .*tinyqwen-blk0 (holds|is a folder of) loose tensors, the forward pass needs the whole model.*--model MODEL\.gguf/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
