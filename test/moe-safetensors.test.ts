// Hugging Face MoE checkpoints (one 2-D tensor per expert) open with the
// experts merged into the GGUF's 3-D tensors: the same names, shapes, values
// and bytes as moe-tiny-f16.gguf, whose expert slices are written here as a
// sharded safetensors model with Qwen3-MoE (and Mixtral) names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { GgufSource } from "../src/io/gguf.js";
import { openSource } from "../src/io/source.js";
import { encodeSafetensors } from "../src/io/safetensors.js";
import { readExpert, readExpertRaw, moeFacts } from "../src/io/experts.js";
import { readF32Bin } from "../src/io/f32bin.js";
import { registerInspect } from "../src/cli/commands/inspect.js";
import { runCli } from "../src/cli/run.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const F16 = fx("moe/moe-tiny-f16.gguf");
const dir = mkdtempSync(join(tmpdir(), "qs-moe-st-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const PROJ = { gate: ["gate_proj", "w1"], up: ["up_proj", "w3"], down: ["down_proj", "w2"] } as const;

/** Blocks 0-1 of moe-tiny as HF tensors: experts 0-4 in shard 1, 5-7 (and the router) in shard 2. */
function writeHfModel(style: "qwen" | "mixtral"): string {
  const g = new GgufSource(F16);
  const shards: { name: string; dtype: "F32" | "F16"; shape: number[]; data: Uint8Array }[][] = [[], []];
  try {
    for (let b = 0; b < 2; b++) {
      for (const [w, names] of Object.entries(PROJ)) {
        for (let e = 0; e < 8; e++) {
          const hf = style === "qwen" ? `model.layers.${b}.mlp.experts.${e}.${names[0]}.weight` : `model.layers.${b}.block_sparse_moe.experts.${e}.${names[1]}.weight`;
          shards[e < 5 ? 0 : 1]!.push({ name: hf, dtype: "F16", shape: [256, 256], data: readExpertRaw(g, `blk.${b}.ffn_${w}_exps.weight`, e) });
        }
      }
      const router = style === "qwen" ? `model.layers.${b}.mlp.gate.weight` : `model.layers.${b}.block_sparse_moe.gate.weight`;
      shards[1]!.push({ name: router, dtype: "F32", shape: [8, 256], data: g.readRaw(`blk.${b}.ffn_gate_inp.weight`) });
    }
  } finally {
    g.close();
  }
  const weightMap: Record<string, string> = {};
  shards.forEach((ts, i) => {
    const f = `${style}-0000${i + 1}-of-00002.safetensors`;
    writeFileSync(join(dir, f), encodeSafetensors(ts));
    for (const t of ts) weightMap[t.name] = f;
  });
  const index = join(dir, `${style}.safetensors.index.json`);
  writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return index;
}

for (const style of ["qwen", "mixtral"] as const) {
  test(`${style} per-expert safetensors open as the GGUF's 3-D expert tensors: names, shapes, values, raw bytes, expert slices`, () => {
    const st = openSource(writeHfModel(style));
    const g = new GgufSource(F16);
    try {
      const names = st.tensors().map((t) => t.name).sort();
      assert.deepEqual(names, ["blk.0.ffn_down_exps.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_gate_inp.weight", "blk.0.ffn_up_exps.weight",
        "blk.1.ffn_down_exps.weight", "blk.1.ffn_gate_exps.weight", "blk.1.ffn_gate_inp.weight", "blk.1.ffn_up_exps.weight"]);
      for (const name of names) {
        const a = st.tensor(name), b = g.tensor(name);
        assert.deepEqual(a.shape, b.shape, name);
        assert.equal(a.rows, b.rows);
        assert.equal(a.type, b.type);
        assert.equal(a.byteSize, b.byteSize);
        assert.deepEqual(st.readRaw!(name), g.readRaw(name), `${name} raw`);
        assert.deepEqual(st.read(name).data, g.read(name).data, `${name} values`);
      }
      const n = "blk.1.ffn_down_exps.weight";
      // Rows 250..262 cross from expert 0 into expert 1; 1200..1400 cross the shard boundary (experts 4 -> 5).
      for (const [s, c] of [[250, 12], [1200, 200], [0, 2048]]) {
        assert.deepEqual(st.readRows(n, s!, c!).data, g.readRows(n, s!, c!).data, `rows ${s}+${c}`);
        assert.deepEqual(st.readRaw!(n, s!, c!), g.readRaw(n, s!, c!), `raw rows ${s}+${c}`);
      }
      const into = new Float32Array(256 * 256 + 7);
      assert.deepEqual(readExpert(st, n, 6, into).data, readExpert(g, n, 6).data);
      assert.equal(st.tensor(style === "qwen" ? "model.layers.1.mlp.experts.*.down_proj.weight" : "model.layers.1.block_sparse_moe.experts.*.w2.weight").name, n);
      const m = moeFacts(st)!;
      assert.equal(m.experts, 8);
      assert.equal(m.expertTensors.length, 6);
    } finally {
      st.close();
      g.close();
    }
  });
}

test("bad HF expert layouts are refused with the file and tensor named: a missing expert, a different shape", () => {
  const data = new Uint8Array(64 * 32 * 2);
  const gap = join(dir, "gap.safetensors");
  writeFileSync(gap, encodeSafetensors([0, 1, 3].map((e) => ({ name: `model.layers.0.mlp.experts.${e}.up_proj.weight`, dtype: "F16" as const, shape: [32, 64], data }))));
  assert.throws(() => openSource(gap), /gap\.safetensors: tensor "model\.layers\.0\.mlp\.experts\.3\.up_proj\.weight" at byte 8: expert 3 of model\.layers\.0\.mlp\.experts\.\*\.up_proj\.weight, but expert 2 is missing/);
  // Found by the fuzzer: no expert 0 (the shape check then had nothing to compare with), and one expert twice.
  const noZero = join(dir, "nozero.safetensors");
  writeFileSync(noZero, encodeSafetensors([1, 2, 3].map((e) => ({ name: `model.layers.0.mlp.experts.${e}.up_proj.weight`, dtype: "F16" as const, shape: [32, 64], data }))));
  assert.throws(() => openSource(noZero), /nozero\.safetensors: tensor "model\.layers\.0\.mlp\.experts\.3\.up_proj\.weight" at byte 8: expert 3 of .*, but expert 0 is missing/);
  const twice = join(dir, "twice.safetensors");
  writeFileSync(twice, encodeSafetensors(["0", "1", "01"].map((e) => ({ name: `model.layers.0.mlp.experts.${e}.up_proj.weight`, dtype: "F16" as const, shape: [32, 64], data }))));
  assert.throws(() => openSource(twice), /twice\.safetensors: tensor "model\.layers\.0\.mlp\.experts\.01\.up_proj\.weight" at byte 8: is expert 1 of .*, like "model\.layers\.0\.mlp\.experts\.1\.up_proj\.weight"/);
  const odd = join(dir, "odd.safetensors");
  writeFileSync(odd, encodeSafetensors([
    { name: "model.layers.0.mlp.experts.0.up_proj.weight", dtype: "F16", shape: [32, 64], data },
    { name: "model.layers.0.mlp.experts.1.up_proj.weight", dtype: "F16", shape: [64, 32], data },
  ]));
  assert.throws(() => openSource(odd), /odd\.safetensors: tensor "model\.layers\.0\.mlp\.experts\.1\.up_proj\.weight" at byte 8: F16 \[64, 32\] differs from expert 0's F16 \[32, 64\]/);
});

test("dump --tensor NAME --expert E writes one expert's slice; a bad expert index is one line, exit 2", async () => {
  const run = async (...args: string[]) => {
    const program = new Command("quantscope");
    registerInspect(program);
    let err = "";
    const w = process.stderr.write.bind(process.stderr), o = process.stdout.write.bind(process.stdout);
    process.stderr.write = ((c: string) => { err += c; return true; }) as typeof process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    const saved = process.exitCode;
    process.exitCode = 0;
    try {
      await runCli(program, ["node", "quantscope", ...args]);
    } finally {
      process.stderr.write = w;
      process.stdout.write = o;
    }
    const code = Number(process.exitCode ?? 0);
    process.exitCode = saved;
    return { code, err };
  };
  const out = join(dir, "e5.f32bin");
  const r = await run("dump", F16, "--tensor", "blk.2.ffn_up_exps.weight", "--expert", "5", "--out", out);
  assert.equal(r.code, 0, r.err);
  const m = readF32Bin(out);
  assert.equal(m.rows, 256);
  assert.equal(m.cols, 256);
  const g = new GgufSource(F16);
  try {
    assert.deepEqual(m.data, g.read("blk.2.ffn_up_exps.weight").data.subarray(5 * 65536, 6 * 65536));
  } finally {
    g.close();
  }
  assert.equal(readFileSync(out).length, 16 + 65536 * 4);
  for (const e of ["8", "-1", "x"]) {
    const bad = await run("dump", F16, "--tensor", "blk.2.ffn_up_exps.weight", "--expert", e, "--out", out);
    assert.equal(bad.code, 2, bad.err);
    assert.equal(bad.err.trim().split("\n").length, 1);
  }
  const dense = await run("dump", F16, "--tensor", "blk.2.attn_q.weight", "--expert", "1", "--out", out);
  assert.match(dense.err, /blk\.2\.attn_q\.weight has 1 expert .*no expert 1/);
});
