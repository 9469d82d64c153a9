// GGUF / f32bin / study-folder readers against independent references:
// llama.cpp's own f32bin dumps, the original llama2.c checkpoint, and the
// codec registry's F16 decoder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { readF32Bin } from "../src/io/f32bin.js";
import { GgufSource } from "../src/io/gguf.js";
import { StudyDirSource } from "../src/io/study-dir.js";
import { dequantize } from "../src/quant/index.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const WEIGHTS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.fail(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
}

test("stories260K.gguf: the 35 block weights equal llama.cpp's f32bin dumps bit for bit", () => {
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    assert.equal(src.format, "gguf");
    assert.equal(src.tensors().length, 48);
    for (let b = 0; b < 5; b++) {
      for (const w of WEIGHTS) {
        const ref = readF32Bin(fx(`activations/blk_${b}_${w}_weight.f32bin`));
        const name = `blk.${b}.${w}.weight`;
        const m = src.read(name);
        assert.equal(m.rows, ref.rows, `${name} rows`);
        assert.equal(m.cols, ref.cols, `${name} cols`);
        bitsEqual(m.data, ref.data, name);
        const info = src.tensor(name);
        assert.deepEqual(info.shape, [ref.cols, ref.rows]);
      }
    }
  } finally {
    src.close();
  }
});

test("stories260K.gguf: all 48 tensors equal the original llama2.c checkpoint (stories260K.bin)", () => {
  // llama2.c layout: 7 int32 config, then token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final.
  const bin = readFileSync(fx("models/stories260K.bin"));
  const [dim, hidden, layers, heads, kvHeads, vocab] = [0, 1, 2, 3, 4, 5].map((i) => bin.readInt32LE(i * 4)) as number[];
  assert.deepEqual([dim, hidden, layers, heads, kvHeads, vocab], [64, 172, 5, 8, 4, 512]);
  const kvDim = (dim! * kvHeads!) / heads!;
  let off = 28;
  const take = (n: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = bin.readFloatLE(off + i * 4);
    off += n * 4;
    return out;
  };
  const per = (n: number) => Array.from({ length: layers! }, () => take(n));
  const expected = new Map<string, Float32Array>();
  const emb = take(vocab! * dim!);
  expected.set("token_embd.weight", emb);
  expected.set("output.weight", emb); // shared classifier, written as a copy
  const groups: [string, number][] = [["attn_norm", dim!], ["attn_q", dim! * dim!], ["attn_k", dim! * kvDim], ["attn_v", dim! * kvDim], ["attn_output", dim! * dim!], ["ffn_norm", dim!], ["ffn_gate", hidden! * dim!], ["ffn_down", dim! * hidden!], ["ffn_up", hidden! * dim!]];
  for (const [name, n] of groups) per(n).forEach((a, l) => expected.set(`blk.${l}.${name}.weight`, a));
  expected.set("output_norm.weight", take(dim!));
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    assert.equal(expected.size, src.tensors().length);
    for (const t of src.tensors()) {
      const exp = expected.get(t.name);
      assert.ok(exp, `unexpected tensor ${t.name}`);
      bitsEqual(src.read(t.name).data, exp, t.name);
    }
  } finally {
    src.close();
  }
});

test("tinyqwen-f16.gguf: blocks 0 and 3 equal the seed-format f32bin weights bit for bit", () => {
  const src = openSource(fx("models/tinyqwen-f16.gguf"));
  try {
    for (const [blk, dir] of [[0, "seed-blk0"], [3, "seed-blk3"]] as const) {
      for (const w of WEIGHTS) {
        const ref = readF32Bin(fx(`tinyqwen/${dir}/data/blk_0_${w}_weight.f32bin`));
        const name = `blk.${blk}.${w}.weight`;
        assert.equal(src.tensor(name).type, "F16");
        const m = src.read(name);
        assert.equal(m.rows, ref.rows);
        bitsEqual(m.data, ref.data, name);
      }
    }
  } finally {
    src.close();
  }
});

test("tinyqwen-f16.gguf: every tensor converts exactly (F16 matches the codec registry's decoder, F32 is the raw bytes)", () => {
  const src = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const types = new Set<string>();
    for (const t of src.tensors()) {
      types.add(t.type);
      const raw = src.readRaw(t.name);
      const expected = t.type === "F32" ? new Float32Array(raw.slice().buffer) : dequantize(t.type, raw, t.rows, t.cols);
      bitsEqual(src.read(t.name).data, expected, t.name);
    }
    assert.deepEqual([...types].sort(), ["F16", "F32"]);
  } finally {
    src.close();
  }
});

test("readRows returns the same values as the matching slice of read (F32, F16, Q4_K, Q6_K)", () => {
  for (const [file, names] of [
    ["models/tinyqwen-f16.gguf", ["blk.1.ffn_down.weight", "blk.1.attn_norm.weight"]],
    ["models/tinyqwen-Q4_K_M.gguf", ["blk.0.ffn_gate.weight", "output.weight"]],
  ] as const) {
    const src = openSource(fx(file));
    try {
      for (const name of names) {
        const all = src.read(name);
        const start = Math.min(3, all.rows - 1);
        const count = Math.min(5, all.rows - start);
        const part = src.readRows(name, start, count);
        bitsEqual(part.data, all.data.subarray(start * all.cols, (start + count) * all.cols), `${file} ${name}`);
      }
    } finally {
      src.close();
    }
  }
});

test("GGUF metadata: every value type the fixtures use, arrays included", () => {
  const src = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const md = src.metadata;
    assert.equal(md.get("general.architecture"), "qwen3");
    assert.equal(md.get("qwen3.block_count"), 6);
    assert.equal(md.get("qwen3.rope.freq_base"), 1e6);
    assert.equal(md.get("tokenizer.ggml.add_bos_token"), true);
    const tokens = md.get("tokenizer.ggml.tokens") as string[];
    assert.equal(tokens.length, 512);
    assert.equal(tokens[1], "<s>");
    assert.equal((md.get("tokenizer.ggml.scores") as number[]).length, 512);
    assert.equal(src.headers[0]!.version, 3);
    assert.equal(src.headers[0]!.alignment, 32);
  } finally {
    src.close();
  }
});

test("unknown tensor names get a one-line error listing close names", () => {
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    assert.throws(() => src.read("blk.0.ffn_dwn.weight"), (e: Error) => e.name === "QuantscopeError" && /no tensor named "blk\.0\.ffn_dwn\.weight" \(closest: blk\.0\.ffn_down\.weight/.test(e.message) && !e.message.includes("\n"));
    assert.throws(() => src.readRows("blk.0.ffn_down.weight", 60, 10), /rows 60\.\.70 are outside blk\.0\.ffn_down\.weight's 0\.\.64/);
  } finally {
    src.close();
  }
});

test("study folder: weights under GGUF names, activations exposed with the weights they feed", () => {
  const dir = fileURLToPath(new URL("../examples/tinyqwen-blk0", import.meta.url));
  const src = openSource(dir);
  try {
    assert.ok(src instanceof StudyDirSource);
    assert.equal(src.format, "study-dir");
    assert.deepEqual(src.tensors().map((t) => t.name).sort(), WEIGHTS.map((w) => `blk.0.${w}.weight`).sort());
    const gguf = openSource(fx("models/tinyqwen-f16.gguf"));
    try {
      bitsEqual(src.read("blk.0.ffn_down.weight").data, gguf.read("blk.0.ffn_down.weight").data, "study ffn_down");
    } finally {
      gguf.close();
    }
    const acts = src.activations();
    assert.equal(acts.length, 4);
    const a = src.activationFor("blk.0.attn_k.weight");
    assert.equal(a?.name, "act_blk0_attn_input");
    assert.deepEqual(a?.consumers, ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"]);
    assert.equal(src.activationFor("blk.0.ffn_down.weight")?.cols, 1024);
    const m = src.readActivation("act_blk0_ffn_input", 10, 2);
    const ref = readF32Bin(`${dir}/act_blk0_ffn_input.f32bin`, 10, 2);
    bitsEqual(m.data, ref.data, "activation rows");
  } finally {
    src.close();
  }
});

test("f32bin file opens as a one-tensor source named from its file name", () => {
  const src = openSource(fx("activations/blk_2_attn_v_weight.f32bin"));
  try {
    assert.equal(src.format, "f32bin");
    assert.equal(src.tensors()[0]!.name, "blk.2.attn_v.weight");
    assert.deepEqual(src.tensors()[0]!.shape, [64, 32]);
  } finally {
    src.close();
  }
});
