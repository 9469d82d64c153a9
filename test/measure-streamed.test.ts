// The streamed (one layer at a time) eval/imatrix at real sizes, checked on
// small models by forcing the streamed path:
// - simulated quantization (--tensor-types, --plan) applied layer by layer as
//   the layers are read gives exactly the in-memory simulation's figures
//   (1 and 2 threads; output head in row blocks and embedding rows one by one
//   give the same logits as whole tensors);
// - a safetensors copy of tinyqwen (single file and sharded, HF names and
//   config.json, written here by a few lines independent of quantscope's
//   writer) gives exactly the GGUF's figures;
// - truncated files: one line naming the file, exit code 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, truncateSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { readTextFile, tokenizerOf } from "../src/model/tokenizer/index.js";
import { chunking } from "../src/model/measure/chunks.js";
import { evaluatePaths } from "../src/model/measure/eval-parallel.js";
import { imatrixPaths } from "../src/model/measure/imatrix-parallel.js";
import { parseTensorTypeFile, simulatedTypes, simulateQuantization, simulationRewrite, simulationTodo } from "../src/model/measure/simulate.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { forward } from "../src/model/forward/run.js";
import { StreamedModel } from "../src/model/forward/stream.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });
const TQ = fx("models/tinyqwen-f16.gguf");
const TEXT = fx("tinyqwen/calibration.txt");
const IMATRIX = fx("tinyqwen/imatrix.gguf");

function textTokens(model: string, text: string): { tokens: Int32Array; bos?: number } {
  const src = openSource(model);
  const tok = tokenizerOf(src);
  src.close();
  return { tokens: Int32Array.from(tok.encode(readTextFile(text))), bos: tok.vocab.addBos ? tok.vocab.bos : undefined };
}

/** A tensor-type file exercising rules, an ftype mix for the rest (embedding and head included) and an imatrix type. */
function typesFile(dir: string): string {
  const tt = join(dir, "types.txt");
  writeFileSync(tt, "ffn_down=q4_K\nattn_v=q6_K\nattn_q=iq4_xs\n");
  return tt;
}

test("streamed eval --tensor-types equals the in-memory simulation (1 and 2 threads)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-stream-sim-"));
  const paths = { model: TQ, tensorTypes: typesFile(dir), ftype: "Q3_K_M", imatrix: IMATRIX };
  const { tokens, bos } = textTokens(TQ, TEXT);
  const c = chunking(tokens.length, 128, 5, 1);
  const ref = await evaluatePaths(paths, tokens, c, bos, 1, undefined, { stream: false });
  assert.ok(ref.kl && ref.kl.kld.value > 1e-3, `simulated KL ${ref.kl?.kld.value}`);
  const types = new Map(ref.simulated!.map((s) => [s.tensor, s.type]));
  assert.equal(types.get("token_embd.weight"), "Q3_K"); // the mix reaches the embedding and the head too
  assert.equal(types.get("output.weight"), "Q6_K");
  assert.equal(types.get("blk.2.attn_q.weight"), "IQ4_XS");
  for (const [jobs, batch] of [[1, 3], [2, 2]] as const) {
    const got = await evaluatePaths(paths, tokens, c, bos, jobs, undefined, { stream: true, batch });
    assert.deepEqual(got.ppl, ref.ppl, `-j ${jobs} batch ${batch}`);
    assert.deepEqual(got.kl, ref.kl, `-j ${jobs} batch ${batch}`);
    assert.deepEqual(got.simulated, ref.simulated);
  }
});

test("streamed simulation: head in row blocks and embedding rows one at a time give the whole tensors' logits", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-stream-rows-"));
  const src = openSource(TQ);
  try {
    const im = readImatrix(IMATRIX);
    const types = simulatedTypes(src, parseTensorTypeFile(typesFile(dir)), "Q3_K_M");
    const model = loadForwardModel(src, undefined, { numerics: "llama" });
    const overrides = simulateQuantization(model, src, types, im);
    const input = textTokens(TQ, TEXT).tokens.slice(0, 64);
    const ref = forward(model, input, 32, { overrides });
    const sm = new StreamedModel(src, { headCacheBytes: 0, headBlockRows: 100, numerics: "llama", rewrite: simulationRewrite(simulationTodo(src, types), im) });
    const got = sm.headLogits(sm.hidden(input, 32), 64);
    let same = 0;
    for (let i = 0; i < ref.length; i++) if (Object.is(got[i], ref[i])) same++;
    assert.equal(same, ref.length, `${ref.length - same} logits differ`);
  } finally {
    src.close();
  }
});

test("eval --plan takes plan --json: the figures of the plan's --emit tensor-types file, streamed too", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-eval-plan-"));
  const model = fx("models/stories260K.gguf");
  const planJson = join(dir, "plan.json"), planTxt = join(dir, "plan.txt");
  const p = run("plan", model, "--imatrix", fx("imatrix/imatrix.gguf"), "--target-size", "Q4_K_M", "--json");
  assert.equal(p.status, 0, p.stderr);
  writeFileSync(planJson, p.stdout);
  const e = run("plan", model, "--imatrix", fx("imatrix/imatrix.gguf"), "--target-size", "Q4_K_M", "--emit", "tensor-types", "-o", planTxt);
  assert.equal(e.status, 0, e.stderr);
  const evalJson = (...extra: string[]) => {
    const r = run("eval", model, "-f", fx("models/calibration.txt"), "-c", "128", "--chunks", "3", "--imatrix", fx("imatrix/imatrix.gguf"), "--json", "--no-progress", ...extra);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    for (const k of ["seconds", "threads", "tensorTypes", "plan"]) delete j[k];
    return j;
  };
  const viaTypes = evalJson("--tensor-types", planTxt);
  const viaPlan = evalJson("--plan", planJson);
  assert.ok(viaTypes.kl.kld.value > 1e-4, `plan KL ${viaTypes.kl.kld.value}`);
  // every tensor gets the type the plan chose
  const chosen = new Map((JSON.parse(p.stdout).choices as { tensor: string; type: string }[]).map((c) => [c.tensor, c.type]));
  for (const s of viaPlan.simulated as { tensor: string; type: string }[]) if (chosen.has(s.tensor)) assert.equal(s.type, chosen.get(s.tensor), s.tensor);
  delete viaTypes.simulated;
  const simPlan = viaPlan.simulated;
  delete viaPlan.simulated;
  assert.deepEqual(viaPlan, viaTypes);
  const streamed = evalJson("--plan", planJson, "--stream", "-j", "2");
  delete streamed.simulated;
  assert.deepEqual(streamed, viaTypes);
  assert.ok(simPlan.length > 0);
  // a plan made for another model is refused, naming the tensor
  const other = run("eval", fx("models/tinyqwen-f16.gguf"), "-f", TEXT, "-c", "128", "--chunks", "1", "--plan", planJson);
  assert.equal(other.status, 2, other.stderr);
  assert.match(other.stderr, /plan\.json: choices\[\d+\]\.elements: \S+ has \d+ elements in the plan but \d+ in .*tinyqwen-f16\.gguf \(a plan for another model\?\)/);
  assert.equal(other.stderr.trim().split("\n").length, 1, other.stderr);
});

// ---- a safetensors copy of tinyqwen -------------------------------------------------------------

/** GGUF name -> Hugging Face name, as convert_hf_to_gguf.py maps Qwen3 (written out here, not taken from src/io/names.ts). */
function hfName(g: string): string {
  const glob: Record<string, string> = { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight" };
  if (glob[g]) return glob[g]!;
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(g)!;
  const part: Record<string, string> = {
    attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj",
    attn_q_norm: "self_attn.q_norm", attn_k_norm: "self_attn.k_norm", attn_norm: "input_layernorm", ffn_norm: "post_attention_layernorm",
    ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj",
  };
  return `model.layers.${m[1]}.${part[m[2]!]}.weight`;
}

/** The safetensors layout from its spec: u64 LE header length, JSON header, raw data. */
function writeSafetensors(path: string, tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.length))]));
}

/** tinyqwen as an HF checkpoint in `dir`: one model.safetensors, or `shards` files with model.safetensors.index.json. */
function writeTinyqwenHf(dir: string, shards: number): string {
  const src = openSource(TQ);
  const md = (k: string) => Number(src.metadata.get(`qwen3.${k}`));
  writeFileSync(join(dir, "config.json"), JSON.stringify({
    architectures: ["Qwen3ForCausalLM"], model_type: "qwen3", hidden_size: md("embedding_length"), intermediate_size: md("feed_forward_length"),
    num_hidden_layers: md("block_count"), num_attention_heads: md("attention.head_count"), num_key_value_heads: md("attention.head_count_kv"),
    head_dim: md("attention.key_length"), max_position_embeddings: md("context_length"), rms_norm_eps: 1e-6, rope_theta: 1000000.0,
    rope_scaling: null, tie_word_embeddings: false, vocab_size: src.tensor("token_embd.weight").rows, torch_dtype: "float16",
  }));
  const all = src.tensors().map((t) => ({ name: hfName(t.name), dtype: t.type === "F16" ? "F16" : "F32", shape: [...t.shape].reverse(), data: src.readRaw!(t.name) }));
  src.close();
  if (shards === 1) {
    const p = join(dir, "model.safetensors");
    writeSafetensors(p, all);
    return p;
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(all.length / shards);
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part = all.slice(s * per, (s + 1) * per);
    writeSafetensors(join(dir, file), part);
    for (const t of part) weightMap[t.name] = file;
  }
  const index = join(dir, "model.safetensors.index.json");
  writeFileSync(index, JSON.stringify({ metadata: { total_size: all.reduce((a, t) => a + t.data.length, 0) }, weight_map: weightMap }));
  return index;
}

test("safetensors tinyqwen (HF names, config.json; single file and sharded): streamed eval and imatrix equal the GGUF's", async () => {
  const { tokens, bos } = textTokens(TQ, TEXT); // the vocabulary is the GGUF's (tinyqwen's is SentencePiece: no tokenizer.json)
  const c = chunking(tokens.length, 128, 4, 1);
  const tt = typesFile(mkdtempSync(join(tmpdir(), "qs-st-types-")));
  const ref = await evaluatePaths({ model: TQ }, tokens, c, bos, 1, undefined, { stream: false });
  const refSim = await evaluatePaths({ model: TQ, tensorTypes: tt, ftype: "Q4_K_M", imatrix: IMATRIX }, tokens, c, bos, 1, undefined, { stream: false });
  const refIm = await imatrixPaths(TQ, tokens, c, bos, 1, undefined, { stream: false });
  for (const shards of [1, 3]) {
    const model = writeTinyqwenHf(mkdtempSync(join(tmpdir(), "qs-st-")), shards);
    const ev = await evaluatePaths({ model }, tokens, c, bos, 2, undefined, { stream: true, batch: 2 });
    assert.deepEqual(ev.ppl, ref.ppl, `${shards} shard(s): perplexity`);
    const sim = await evaluatePaths({ model, tensorTypes: tt, ftype: "Q4_K_M", imatrix: IMATRIX }, tokens, c, bos, 1, undefined, { stream: true, batch: 2 });
    assert.deepEqual(sim.kl, refSim.kl, `${shards} shard(s): simulated KL`);
    assert.deepEqual(sim.simulated, refSim.simulated);
    const kl = await evaluatePaths({ model, base: TQ }, tokens, c, bos, 1, undefined, { stream: true });
    assert.equal(kl.kl!.sameTop.value, 1, "safetensors against its GGUF: same top token everywhere");
    const im = await imatrixPaths(model, tokens, c, bos, 1, undefined, { stream: true, batch: 4 });
    assert.equal(im.ppl, refIm.ppl);
    assert.deepEqual([...im.sums.keys()].sort(), [...refIm.sums.keys()].sort());
    for (const [name, s] of refIm.sums) assert.deepEqual(im.sums.get(name), s, `${shards} shard(s): ${name}`);
  }
});

test("safetensors qwen3moe (moe-tiny, one HF tensor per expert): streamed eval and imatrix equal the GGUF's", async () => {
  const gguf = fx("moe/moe-tiny-f16.gguf");
  const dir = mkdtempSync(join(tmpdir(), "qs-st-moe-"));
  const src = openSource(gguf);
  const md = (k: string) => Number(src.metadata.get(`qwen3moe.${k}`));
  writeFileSync(join(dir, "config.json"), JSON.stringify({
    architectures: ["Qwen3MoeForCausalLM"], model_type: "qwen3_moe", hidden_size: md("embedding_length"), intermediate_size: md("feed_forward_length"),
    num_hidden_layers: md("block_count"), num_attention_heads: md("attention.head_count"), num_key_value_heads: md("attention.head_count_kv"),
    head_dim: md("attention.key_length"), max_position_embeddings: md("context_length"), rms_norm_eps: 1e-6, rope_theta: 1000000.0,
    num_experts: md("expert_count"), num_experts_per_tok: md("expert_used_count"), moe_intermediate_size: md("expert_feed_forward_length"),
  }));
  const proj: Record<string, string> = { ffn_gate_exps: "gate_proj", ffn_up_exps: "up_proj", ffn_down_exps: "down_proj" };
  const tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[] = [];
  for (const t of src.tensors()) {
    const m = /^blk\.(\d+)\.(ffn_\w+_exps)\.weight$/.exec(t.name);
    const dtype = t.type === "F16" ? "F16" : "F32";
    if (!m) {
      const hf = /^blk\.\d+\.ffn_gate_inp\.weight$/.test(t.name) ? t.name.replace(/^blk\.(\d+)\.ffn_gate_inp\.weight$/, "model.layers.$1.mlp.gate.weight") : hfName(t.name);
      tensors.push({ name: hf, dtype, shape: [...t.shape].reverse(), data: src.readRaw!(t.name) });
      continue;
    }
    const [cols, rows, experts] = t.shape as [number, number, number];
    for (let e = 0; e < experts; e++) {
      tensors.push({ name: `model.layers.${m[1]}.mlp.experts.${e}.${proj[m[2]!]}.weight`, dtype, shape: [rows, cols], data: src.readRaw!(t.name, e * rows, rows) });
    }
  }
  src.close();
  const model = join(dir, "model.safetensors");
  writeSafetensors(model, tensors);
  const { tokens, bos } = textTokens(gguf, TEXT);
  const c = chunking(tokens.length, 128, 3, 1);
  const ref = await evaluatePaths({ model: gguf }, tokens, c, bos, 1, undefined, { stream: false });
  const refIm = await imatrixPaths(gguf, tokens, c, bos, 1, undefined, { stream: false });
  const ev = await evaluatePaths({ model }, tokens, c, bos, 1, undefined, { stream: true, batch: 2 });
  assert.deepEqual(ev.ppl, ref.ppl);
  const im = await imatrixPaths(model, tokens, c, bos, 2, undefined, { stream: true, batch: 1 });
  assert.deepEqual([...im.sums.keys()].sort(), [...refIm.sums.keys()].sort());
  for (const [name, s] of refIm.sums) {
    assert.deepEqual(im.sums.get(name), s, name);
    assert.deepEqual(im.counts.get(name), refIm.counts.get(name), name);
  }
});

/** HF Llama keeps q/k rows in rotate-half order: GGUF row (head h, pair i, half s) is HF row (h, s, i) (convert_hf_to_gguf's permute, inverted). */
function unpermuteRows(data: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const out = new Float32Array(data.length), d = rows / heads;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      for (let s = 0; s < 2; s++) out.set(data.subarray((h * d + 2 * i + s) * cols, (h * d + 2 * i + s + 1) * cols), (h * d + s * (d / 2) + i) * cols);
    }
  }
  return out;
}

test("safetensors Llama (stories260K with q/k rows in HF order): the GGUF's figures up to summation order", async () => {
  const gguf = fx("models/stories260K.gguf");
  const dir = mkdtempSync(join(tmpdir(), "qs-st-llama-"));
  const src = openSource(gguf);
  const md = (k: string) => Number(src.metadata.get(`llama.${k}`));
  const nHead = md("attention.head_count"), nKv = md("attention.head_count_kv");
  writeFileSync(join(dir, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: md("embedding_length"), intermediate_size: md("feed_forward_length"),
    num_hidden_layers: md("block_count"), num_attention_heads: nHead, num_key_value_heads: nKv, max_position_embeddings: md("context_length"),
    rms_norm_eps: md("attention.layer_norm_rms_epsilon"), rope_theta: 10000.0, rope_scaling: null,
  }));
  const names: Record<string, string> = { attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj", attn_norm: "input_layernorm", ffn_norm: "post_attention_layernorm", ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj" };
  const tensors = src.tensors().map((t) => {
    let data = src.read(t.name).data; // F32
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(t.name);
    if (m && (m[2] === "attn_q" || m[2] === "attn_k")) data = unpermuteRows(data, t.rows, t.cols, m[2] === "attn_q" ? nHead : nKv);
    const name = m ? `model.layers.${m[1]}.${names[m[2]!]}.weight` : { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight" }[t.name]!;
    return { name, dtype: "F32", shape: [...t.shape].reverse(), data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  });
  src.close();
  const model = join(dir, "model.safetensors");
  writeSafetensors(model, tensors);
  const { tokens, bos } = textTokens(gguf, fx("models/calibration.txt"));
  const c = chunking(tokens.length, 128, 4, 1);
  const ref = await evaluatePaths({ model: gguf }, tokens, c, bos, 1, undefined, { stream: false });
  const got = await evaluatePaths({ model, base: gguf }, tokens, c, bos, 1, undefined, { stream: true });
  // q·k sums its terms in another order (rows permuted): last-bit differences only
  assert.ok(Math.abs(got.ppl.value / ref.ppl.value - 1) < 1e-5, `PPL ${got.ppl.value} vs ${ref.ppl.value}`);
  assert.ok(got.kl!.kld.value < 1e-4 && got.kl!.sameTop.value === 1, `KL ${got.kl!.kld.value}, same top ${got.kl!.sameTop.value}`);
});

test("truncated model files in the streamed path: one line naming the file, exit code 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-trunc-"));
  const gguf = join(dir, "tq.gguf");
  copyFileSync(TQ, gguf);
  truncateSync(gguf, statSync(gguf).size - 4096);
  const st = writeTinyqwenHf(mkdtempSync(join(tmpdir(), "qs-trunc-st-")), 3);
  const shard = join(st, "..", "model-00002-of-00003.safetensors");
  truncateSync(shard, statSync(shard).size - 100);
  const tt = typesFile(dir);
  for (const [model, re] of [[gguf, /tq\.gguf: .*runs past the end of the file/], [st, /model-00002-of-00003\.safetensors: .*past the .* data bytes in the file/]] as const) {
    for (const extra of [[], ["--tensor-types", tt], ["-j", "2"]]) {
      const r = run("eval", model, "-f", TEXT, "-c", "128", "--chunks", "2", "--stream", ...extra);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    const r = run("imatrix", model, "-f", TEXT, "-c", "128", "--chunks", "2", "--stream", "-o", join(dir, "im.gguf"));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});

test("config.json beside a safetensors model: unreadable, wrong-kind or unsupported hyper-parameters are one line naming the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-st-cfg-"));
  const model = writeTinyqwenHf(dir, 1);
  const cfg = join(dir, "config.json");
  const good = JSON.parse(readFileSync(cfg, "utf8"));
  const bad = (text: string, re: RegExp) => {
    writeFileSync(cfg, text);
    const r = run("eval", model, "-f", TEXT, "-c", "128", "--chunks", "1", "--stream");
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  };
  bad("{ not json", /config\.json: is not a readable config\.json/);
  bad(JSON.stringify({ ...good, num_hidden_layers: 2.5 }), /config\.json: num_hidden_layers: 2\.5 is not a non-negative integer/);
  bad(JSON.stringify({ ...good, rope_scaling: { rope_type: "yarn", factor: 4 } }), /model\.safetensors: config\.json rope_scaling .*yarn.* is not supported/);
  bad(JSON.stringify({ ...good, model_type: "gemma3" }), /supports llama, qwen2, qwen3 and qwen3moe models, not "gemma3"/);
});

/** GPT-2's byte alphabet (the byte-level BPE tokens of single bytes), from its published definition. */
function byteAlphabet(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(keep(b) ? b : 256 + n++));
}

test("CLI eval and imatrix on a safetensors model with tokenizer.json beside it: the GGUF's figures on the same tokens", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-st-cli-"));
  const model = writeTinyqwenHf(dir, 2);
  // a byte-level BPE vocabulary within tinyqwen's 512 rows: the 256 bytes, a few merges, one special token
  const alpha = byteAlphabet();
  const vocab: Record<string, number> = Object.fromEntries(alpha.map((c, i) => [c, i]));
  const merges = [["t", "h"], ["th", "e"], ["Ġ", "the"], ["i", "n"], ["e", "r"]];
  merges.forEach(([a, b], k) => { vocab[a! + b!] = 256 + k; });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "BPE", vocab, merges: merges.map((m) => m.join(" ")) }, added_tokens: [{ id: 300, content: "<|endoftext|>", special: true }] }));
  const out = join(dir, "im.gguf");
  const e = run("eval", model, "-f", TEXT, "-c", "128", "--chunks", "3", "-j", "1", "--stream", "--json", "--no-progress");
  assert.equal(e.status, 0, e.stderr);
  const i = run("imatrix", model, "-f", TEXT, "-c", "128", "--chunks", "3", "-j", "2", "--stream", "-o", out, "--no-progress");
  assert.equal(i.status, 0, i.stderr);
  // the same tokens (from that tokenizer.json) through the GGUF, in memory
  const { tokenizerForModel } = await import("../src/model/tokenizer/index.js");
  const tok = tokenizerForModel(model);
  const tokens = Int32Array.from(tok.encode(readTextFile(TEXT)));
  assert.ok(tokens.some((t) => t >= 256 && t < 261), "the merges are used");
  const bos = tok.vocab.addBos ? tok.vocab.bos : undefined;
  const c = chunking(tokens.length, 128, 3, 1);
  const ref = await evaluatePaths({ model: TQ }, tokens, c, bos, 1, undefined, { stream: false });
  assert.deepEqual(JSON.parse(e.stdout).ppl, ref.ppl);
  const refIm = await imatrixPaths(TQ, tokens, chunking(tokens.length, 128, 3), bos, 1, undefined, { stream: false });
  const im = readImatrix(out);
  assert.equal(im.entries.size, refIm.sums.size);
  for (const [name, s] of refIm.sums) {
    const cnt = refIm.counts.get(name)![0]!;
    assert.deepEqual(im.entries.get(name)!.values, s.map((v) => Math.fround(v / cnt)), name);
  }
});

test("MoE simulation (3-D expert tensors, per-expert imatrix): llama-quantize's moe-tiny files bit for bit, and their eval figures, streamed", async () => {
  const F16 = fx("moe/moe-tiny-f16.gguf"), IM = fx("moe/moe-tiny-imatrix.gguf");
  const src = openSource(F16);
  const im = readImatrix(IM);
  const model = loadForwardModel(src);
  for (const ftype of ["Q4_K_M", "IQ2_XXS"]) {
    const q = openSource(fx(`moe/moe-tiny-${ftype}.gguf`));
    const types = simulatedTypes(src, [], ftype);
    assert.equal(types.filter((t) => t.tensor.includes("_exps.")).length, 12, "expert tensors are simulated");
    const overrides = simulateQuantization(model, src, types, im);
    for (const t of types) {
      assert.equal(t.type, q.tensor(t.tensor).type, `${ftype} ${t.tensor}`);
      const a = overrides.get(t.tensor) ?? model.weights.get(t.tensor)!, b = q.read(t.tensor).data;
      let diff = 0;
      for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) diff++;
      assert.equal(diff, 0, `${ftype} ${t.tensor}: ${diff} of ${a.length} values differ from llama-quantize's`);
    }
    q.close();
  }
  src.close();
  // so the simulated Q4_K_M evaluates exactly like llama-quantize's file against the F16
  const dir = mkdtempSync(join(tmpdir(), "qs-moe-sim-"));
  const empty = join(dir, "none.txt");
  writeFileSync(empty, "");
  const { tokens, bos } = textTokens(F16, TEXT);
  const c = chunking(tokens.length, 128, 3, 1);
  const real = await evaluatePaths({ model: fx("moe/moe-tiny-Q4_K_M.gguf"), base: F16 }, tokens, c, bos, 1, undefined, { stream: false });
  const sim = await evaluatePaths({ model: F16, tensorTypes: empty, ftype: "Q4_K_M", imatrix: IM }, tokens, c, bos, 2, undefined, { stream: true, batch: 2 });
  assert.ok(real.kl!.kld.value > 1e-3);
  assert.deepEqual(sim.kl, real.kl);
});
