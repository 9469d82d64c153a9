// quantscope calibrate (docs/sensitivity.md):
// - the backward pass against finite differences of the independent forward
//   pass in src/model/forward/run.ts (llama, qwen3 with QK-norm, tied head);
// - the calibration file is an imatrix llama-quantize reads (same in_sum2 as `quantscope imatrix`);
// - predicted KL from calibration statistics against measured single-tensor KL
//   (reference forward pass, on tokens the calibration did not use);
// - tinyqwen block 0 at Q2_K ranks like llama.cpp's measured KLD
//   (blk.0.ffn_down by far the most damaging, attn_k / attn_q the least).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { loadForwardModel, type ForwardModel } from "../src/model/forward/model.js";
import { forward } from "../src/model/forward/run.js";
import { prepareKl } from "../src/model/forward/kl.js";
import { attentionBack, attentionBackWasm, backward, forwardCached, headName } from "../src/model/calibrate/backward.js";
import { addFisherMarginals, CalibAccumulator, calibrateSequence, rng } from "../src/model/calibrate/collect.js";
import { encodeCalibGguf, readCalib } from "../src/model/calibrate/calib-file.js";
import { arenaArray, arenaUse, attentionFwdWasm, beginChunk, calibKernels, limitArena } from "../src/model/calibrate/kernels.js";
import { attentionWasm } from "../src/model/forward/matmul-wasm.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { ImatrixAccumulator, imatrixChunk } from "../src/model/measure/imatrix-collect.js";
import type { ImatrixEntryRaw } from "../src/io/imatrix.js";
import { GgufSource } from "../src/io/gguf.js";
import { roundTripTensor } from "../src/quant/tensor.js";
import { readTextFile, tokenizerOf } from "../src/model/tokenizer/index.js";
import { readTokens } from "../src/model/forward/tokens.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

function load(p: string): ForwardModel {
  const src = openSource(fx(p));
  try { return loadForwardModel(src); } finally { src.close(); }
}

function spearman(a: number[], b: number[]): number {
  const rank = (v: number[]) => { const o = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]); const r = new Array<number>(v.length); o.forEach(([, i], k) => (r[i] = k)); return r; };
  const ra = rank(a), rb = rank(b), n = a.length, m = (n - 1) / 2;
  let c = 0, va = 0, vb = 0;
  for (let i = 0; i < n; i++) { c += (ra[i]! - m) * (rb[i]! - m); va += (ra[i]! - m) ** 2; vb += (rb[i]! - m) ** 2; }
  return c / Math.sqrt(va * vb);
}

/** Analytic ∂L/∂W_oj = Σ_t g_to x_tj against central differences of L = Σ c·logits through run.ts's forward (expert matrices: over the rows routed to the expert). */
function checkGradients(m: ForwardModel, label: string, kinds = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"], T = 10): void {
  const V = m.config.vocab, E = m.config.nEmbd;
  const r = rng(7);
  const toks = Int32Array.from({ length: T }, () => Math.floor(r() * V));
  const cvec = Float32Array.from({ length: T * V }, () => r() - 0.5);
  const loss = (name: string, W: Float32Array) => {
    const lg = forward(m, toks, T, { overrides: new Map([[name, W]]), kvF16: false });
    let L = 0;
    for (let i = 0; i < lg.length; i++) L += cvec[i]! * lg[i]!;
    return L;
  };
  const seen = new Map<string, { x: Float32Array; cols: number; g: Float32Array; rows: number }>();
  const experts = new Map<string, number[]>();
  const { dEmbed } = backward(m, forwardCached(m, toks, { kvF16: false }), cvec, (name, x, cols, g, rows, ex) => {
    seen.set(ex ? `${name}#${ex.index}` : name, { x: x.slice(), cols, g: g.slice(), rows }); // x, g: valid during the call only
    if (ex) experts.set(name, [...(experts.get(name) ?? []), ex.index]);
  });
  const tied = headName(m) === "token_embd.weight";
  const names = ["token_embd.weight", ...(tied ? [] : ["output.weight"]), ...kinds.map((k) => `blk.1.${k}.weight`)];
  let num = 0, den = 0;
  for (const name of names) {
    const W = m.weights.get(name)!;
    for (let k = 0; k < 4; k++) {
      let an = 0, idx: number;
      if (name === "token_embd.weight") {
        const v = toks[k]!, j = Math.floor(r() * E);
        idx = v * E + j;
        for (let t = 0; t < T; t++) if (toks[t] === v) an += dEmbed[t * E + j]!;
        if (tied) { const h = seen.get(name)!; for (let t = 0; t < T; t++) an += h.g[t * h.rows + v]! * h.x[t * h.cols + j]!; }
      } else {
        const ex = experts.get(name);
        const e = ex ? ex[Math.floor(r() * ex.length)]! : 0;
        const s = seen.get(ex ? `${name}#${e}` : name)!;
        const o = Math.floor(r() * s.rows), j = Math.floor(r() * s.cols);
        idx = (e * s.rows + o) * s.cols + j;
        const n = s.x.length / s.cols;
        for (let t = 0; t < n; t++) an += s.g[t * s.rows + o]! * s.x[t * s.cols + j]!;
      }
      const eps = 1e-2, Wp = W.slice(), Wm = W.slice();
      Wp[idx] += eps; Wm[idx] -= eps;
      const fd = (loss(name, Wp) - loss(name, Wm)) / (2 * eps);
      assert.ok(Math.abs(an - fd) <= 0.02 * Math.abs(fd) + 0.01, `${label} ${name}[${idx}]: backward ${an}, finite differences ${fd}`);
      num += (an - fd) ** 2; den += fd * fd;
    }
  }
  assert.ok(Math.sqrt(num / den) < 0.01, `${label}: relative L2 error ${Math.sqrt(num / den)}`);
}

test("calibrate: backward pass matches finite differences (llama, qwen3 + QK-norm, tied head)", () => {
  const s = load("models/stories260K.gguf");
  checkGradients(s, "stories260K");
  const q = load("models/tinyqwen-f16.gguf");
  checkGradients(q, "tinyqwen");
  const tied = new Map(s.weights);
  tied.delete("output.weight");
  checkGradients({ config: s.config, weights: tied }, "stories260K tied");
});

test("calibrate: backward pass through qwen3moe's routed experts and router matches finite differences (moe-tiny)", () => {
  const m = load("moe/moe-tiny-f16.gguf");
  checkGradients(m, "moe-tiny", ["attn_q", "attn_v", "ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"], 12);
});

test("calibrate: the forward pass it keeps gives the reference forward pass's matmul inputs and logits bit for bit (so in_sum2 is imatrix's)", () => {
  for (const p of ["models/tinyqwen-f16.gguf", "moe/moe-tiny-f16.gguf", "models/stories260K.gguf"]) {
    const m = load(p), T = 40;
    const toks = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % m.config.vocab);
    const caps = new Map<string, Float32Array>();
    const logits = forward(m, toks, T, { capture: (l, kind, data) => caps.set(`${l}.${kind}`, data.slice()) });
    const c = forwardCached(m, toks);
    const same = (a: Float32Array, b: Float32Array | undefined, what: string) => {
      assert.ok(b && a.length === b.length, `${p} ${what}: missing or length`);
      for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${p} ${what}[${i}]: ${a[i]} vs ${b[i]}`);
    };
    c.layers.forEach((L, l) => {
      same(L.x, caps.get(`${l}.attn_input`), `blk.${l} attn_input`);
      same(L.att, caps.get(`${l}.attn_output_input`), `blk.${l} attn_output_input`);
      same(L.f, caps.get(`${l}.ffn_input`), `blk.${l} ffn_input`);
      if (!L.moe) same(L.a, caps.get(`${l}.ffn_down_input`), `blk.${l} ffn_down_input`);
    });
    same(c.logits, logits, "logits");
  }
});

test("calibrate: the statistics are bit for bit the same whether its arrays live in the kernels' arena (operands in place) or in JS arrays (copied in and out)", () => {
  for (const p of ["models/tinyqwen-f16.gguf", "moe/moe-tiny-f16.gguf", "models/stories260K.gguf"]) {
    const m = load(p), T = 48;
    const toks = Int32Array.from({ length: T }, (_, i) => (i * 53 + 7) % m.config.vocab);
    const run = () => calibrateSequence(m, toks, 9, { samples: 2 });
    limitArena(Infinity);
    const a = run();
    if (calibKernels()) {
      const use = arenaUse();
      assert.ok(use.inside > 0 && use.outside === 0, `${p}: arena ${JSON.stringify(use)}`);
    }
    limitArena(0);
    const b = run();
    if (calibKernels()) assert.equal(arenaUse().inside, 0, `${p}: arena off`);
    limitArena(Infinity);
    const c = run(); // back in the arena, after a relayout
    for (const [label, x] of [["JS arrays", b], ["arena again", c]] as const) {
      for (const key of ["inSum2", "outGrad2", "fisherRows", "fisherCols", "expertCounts"] as const) {
        assert.deepEqual(Object.keys(x[key]).sort(), Object.keys(a[key]).sort(), `${p} ${label} ${key}`);
        for (const [name, v] of Object.entries(a[key])) assert.deepEqual(x[key][name], v, `${p} ${label} ${key} ${name}`);
      }
      assert.deepEqual(x.embRowGrad2, a.embRowGrad2, `${p} ${label} embRowGrad2`);
      assert.deepEqual(x.embColGrad2, a.embColGrad2, `${p} ${label} embColGrad2`);
    }
  }
});

test("calibrate: WASM attention backward equals the float64 JS reference", () => {
  const r = rng(3);
  // d % 8 == 0: the relaxed-SIMD blocked kernel (T not a multiple of 4, one query, GQA groups 1/2/4); d = 6: the plain-SIMD one
  for (const [T, nHead, nKv, d] of [[17, 4, 2, 8], [9, 2, 1, 6], [30, 8, 2, 64], [1, 2, 1, 8], [6, 3, 3, 16], [64, 4, 1, 24]] as const) {
    const q = Float32Array.from({ length: T * nHead * d }, () => r() * 2 - 1);
    const k = Float32Array.from({ length: T * nKv * d }, () => r() * 2 - 1);
    const v = Float32Array.from({ length: T * nKv * d }, () => r() * 2 - 1);
    const dout = Float32Array.from({ length: T * nHead * d }, () => r() * 2 - 1);
    const a = attentionBackWasm(q, k, v, dout, T, nHead, nKv, d), b = attentionBack(q, k, v, dout, T, nHead, nKv, d);
    for (const key of ["dq", "dk", "dv"] as const) {
      for (let i = 0; i < a[key].length; i++) assert.ok(Math.abs(a[key][i]! - b[key][i]!) < 1e-5 * (1 + Math.abs(b[key][i]!)), `${key}[${i}] ${a[key][i]} vs ${b[key][i]}`);
    }
  }
});

test("calibrate: a pass whose arena views were detached by a memory grow fails (an internal error) instead of returning garbage", { skip: calibKernels() ? false : "no relaxed-SIMD module: no arena" }, () => {
  const m = load("models/stories260K.gguf"), T = 16;
  const toks = Int32Array.from({ length: T }, (_, i) => (i * 7 + 3) % m.config.vocab);
  const cache = forwardCached(m, toks);
  calibKernels()!.memory.grow(1); // as per-call scratch past its reserve would
  const d = new Float32Array(T * m.config.vocab).fill(0.001);
  assert.throws(() => backward(m, cache, d, () => {}), /internal error|detached/);
  // the next chunk lays the arena out again
  const again = forwardCached(m, toks);
  backward(m, again, d, () => {});
});

test("calibrate: the attention that keeps its probabilities gives the forward pass's output bit for bit, and the backward from them equals the backward that recomputes them", { skip: calibKernels() ? false : "no relaxed-SIMD module: probabilities are not kept" }, () => {
  const r = rng(13);
  // group 4 with d % 8 == 0 (four heads at a time), group 2 (one head at a time), T off the blocks of four
  for (const [T, nHead, nKv, d] of [[37, 8, 2, 64], [30, 4, 2, 16], [5, 2, 1, 8], [64, 4, 1, 24]] as const) {
    const rnd = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
    const q = rnd(T * nHead * d), k = rnd(T * nKv * d), v = rnd(T * nKv * d), dout = rnd(T * nHead * d);
    const Tp = (T + 3) & ~3;
    beginChunk(4 * 8 * 64 * 64 * 2, 1 << 22); // room in the arena (the probabilities must live there)
    const P = arenaArray("test.P", nHead * Tp * Tp, 8 * 64 * 64).fill(Number.NaN); // rows past T must be written too
    const out = new Float32Array(T * nHead * d);
    assert.ok(attentionFwdWasm(q, k, v, T, nHead, nKv, d, out, P));
    assert.deepEqual(out, attentionWasm(q, k, v, T, nHead, nKv, d, false), `T ${T} ${nHead}/${nKv} d ${d}: output`);
    const kept = attentionBackWasm(q, k, v, dout, T, nHead, nKv, d, undefined, P), redo = attentionBackWasm(q, k, v, dout, T, nHead, nKv, d);
    for (const key of ["dq", "dk", "dv"] as const) assert.deepEqual(kept[key], redo[key], `T ${T} ${nHead}/${nKv} d ${d}: ${key}`);
  }
});

test("calibrate: the fused WASM Fisher marginals equal the row/column sums of the squared gradient gᵀx (float64 JS)", () => {
  const r = rng(11);
  for (const [n, rows, cols] of [[37, 12, 24], [5, 7, 13], [64, 9, 8], [3, 4, 3]] as const) {
    const g = Float32Array.from({ length: n * rows }, () => r() * 2 - 1), x = Float32Array.from({ length: n * cols }, () => r() * 2 - 1);
    const R = Float64Array.from({ length: rows }, () => r()), C = Float64Array.from({ length: cols }, () => r());
    const wantR = R.slice(), wantC = C.slice();
    for (let o = 0; o < rows; o++) {
      for (let j = 0; j < cols; j++) {
        let d = 0;
        for (let t = 0; t < n; t++) d += g[t * rows + o]! * x[t * cols + j]!;
        wantR[o] += 0.5 * d * d; wantC[j] += 0.5 * d * d;
      }
    }
    addFisherMarginals(g, x, n, rows, cols, R, C, 0.5);
    R.forEach((v, o) => assert.ok(Math.abs(v - wantR[o]!) <= 1e-5 * wantR[o]!, `${n}x${rows}x${cols} R[${o}] ${v} vs ${wantR[o]}`));
    C.forEach((v, j) => assert.ok(Math.abs(v - wantC[j]!) <= 1e-5 * wantC[j]!, `${n}x${rows}x${cols} C[${j}] ${v} vs ${wantC[j]}`));
  }
});

test("calibrate: the file is an imatrix (in_sum2 as quantscope imatrix computes) with gradient statistics", () => {
  const m = load("models/stories260K.gguf");
  const tokens = Int32Array.from({ length: 128 }, (_, i) => (i * 37 + 11) % m.config.vocab);
  const acc = new CalibAccumulator();
  acc.add(calibrateSequence(m, tokens, 1));
  const st = acc.result(128, 1, headName(m));
  const dir = mkdtempSync(join(tmpdir(), "qs-calib-"));
  const file = join(dir, "calib.gguf");
  writeFileSync(file, encodeCalibGguf(st, { datasets: ["test"] }));
  const im = readImatrix(file);
  const ref = imatrixChunk(m, tokens, { nCtx: 128, count: 1, available: 1 }, 0, undefined);
  assert.equal(im.entries.size, 35);
  for (const [name, e] of im.entries) {
    const [, l, kind] = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name)!;
    const site = { attn_q: "attn_input", attn_k: "attn_input", attn_v: "attn_input", attn_output: "attn_output_input", ffn_gate: "ffn_input", ffn_up: "ffn_input", ffn_down: "ffn_down_input" }[kind!]!;
    const r = ref.sums[`blk.${l}.${site}`]!;
    for (let j = 0; j < r.length; j++) assert.ok(Math.abs(e.values[j]! * 128 - r[j]!) <= 5e-3 * r[j]! + 1e-6, `${name}[${j}]`);
  }
  const c = readCalib(file)!;
  assert.equal(c.tokens, 128);
  assert.equal(c.gradMean2.size, 36); // 35 block matrices + output
  assert.ok(c.inMean2.has("output.weight") && c.embRow && c.embCol);
  assert.equal(c.fisher.size, 37); // + the embedding lookup
  assert.equal(readCalib(fx("imatrix/imatrix.gguf")), null); // a plain imatrix has no gradient statistics
});

test("calibrate (qwen3moe): per-expert in_sum2 and counts equal quantscope imatrix's; gradient statistics per expert", () => {
  const src = openSource(fx("moe/moe-tiny-f16.gguf"));
  try {
    const m = loadForwardModel(src);
    const text = Int32Array.from(tokenizerOf(src).encode(readTextFile(fx("tinyqwen/calibration.txt")).slice(0, 4000)));
    const c = { nCtx: 128, count: 2, available: 2 };
    const acc = new CalibAccumulator(), ref = new ImatrixAccumulator();
    for (let i = 0; i < 2; i++) {
      acc.add(calibrateSequence(m, text.slice(i * 128, (i + 1) * 128), 1 + i));
      ref.add(imatrixChunk(m, text, c, i, undefined));
    }
    const dir = mkdtempSync(join(tmpdir(), "qs-calib-"));
    const file = join(dir, "calib.gguf");
    writeFileSync(file, encodeCalibGguf(acc.result(128, 1, headName(m)), { datasets: ["test"] }));
    const want = ref.result(128);
    const im = readImatrix(file);
    assert.deepEqual([...im.entries.keys()].sort(), [...want.sums.keys()].sort());
    let experts = 0;
    for (const [name, e] of im.entries) {
      const raw = (e as ImatrixEntryRaw).raw, r = want.sums.get(name)!;
      assert.deepEqual(e.counts, want.counts.get(name), `${name} counts`);
      if (want.counts.get(name)!.length > 1) experts++;
      // imatrix's forward pass computes softmax and SiLU with llama.cpp's f32 polynomial e^x (WASM), the
      // calibration's forward keeps Math.exp for its backward: after four random-router blocks 1 entry in
      // ~30,000 differs by 1.6e-4 relative (all others < 1e-4), so 5e-4.
      for (let j = 0; j < r.length; j++) assert.ok(Math.abs(raw[j]! - r[j]!) <= 5e-4 * r[j]! + 1e-6, `${name}[${j}]: ${raw[j]} vs ${r[j]}`);
    }
    assert.equal(experts, 12); // ffn_{gate,up,down}_exps of 4 blocks, 8 experts each
    const cal = readCalib(file)!;
    for (let l = 0; l < 4; l++) {
      for (const k of ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"]) {
        const name = `blk.${l}.${k}.weight`, f = cal.fisher.get(name)!;
        assert.equal(f.groups, 8, name);
        assert.equal(f.rows.length, 8 * 256, name);
        // columns normalised per expert: each expert that saw tokens sums to 1
        const counts = want.counts.get(name)!;
        for (let e = 0; e < 8; e++) {
          let s = 0;
          for (let j = 0; j < 256; j++) s += f.cols[e * 256 + j]!;
          assert.ok(counts[e]! > 0 ? Math.abs(s - 1) < 1e-4 : s === 0, `${name} expert ${e}: column shares sum to ${s}`);
        }
      }
      assert.ok(cal.fisher.has(`blk.${l}.ffn_gate_inp.weight`));
    }
  } finally {
    src.close();
  }
});

test("calibrate (qwen3moe): expert tensors get a calibration prediction, the sum of each expert's own; the last block's match measured KL", () => {
  const src = openSource(fx("moe/moe-tiny-f16.gguf"));
  try {
    const m = loadForwardModel(src);
    const text = Int32Array.from(tokenizerOf(src).encode(readTextFile(fx("tinyqwen/calibration.txt"))));
    // calibration: 3 chunks of 256 from the end of the text; KL: the first 256 tokens
    const acc = new CalibAccumulator();
    for (let i = 0; i < 3; i++) acc.add(calibrateSequence(m, text.slice(text.length - (i + 1) * 256, text.length - i * 256), 1 + i));
    const dir = mkdtempSync(join(tmpdir(), "qs-calib-"));
    const file = join(dir, "calib.gguf");
    writeFileSync(file, encodeCalibGguf(acc.result(256, 1, headName(m)), { datasets: ["test"] }));
    const kl = prepareKl(m, text.slice(0, 256), 256);
    const res = sweepModel(src, { types: ["Q3_K", "Q5_K"], calib: readCalib(file)!, kl, tensors: /^blk\.(3\.ffn_(gate|up|down)|1\.ffn_down)_exps\./ });
    assert.equal(res.records.length, 8);
    assert.ok(!res.notes.some((n) => /borrows the dense FFN gain/.test(n)), res.notes.join("\n"));
    const raw = new GgufSource(file);
    try {
      const tokens = Number(raw.metadata.get("calibrate.token_count"));
      for (const r of res.records) {
        assert.equal(r.sensitivitySource, "calib", r.tensor);
        assert.equal(r.sensitivityBasis, undefined, r.tensor);
        // from scratch: ½ Σ_e Σ_o (R_eo / N) Σ_j (C_ej / Σ_j C_ej) E²_eoj on llama-quantize's per-expert round trip
        const info = src.tensor(r.tensor), W = src.read(r.tensor).data, deq = roundTripTensor(r.type, W, info.shape);
        const R = raw.read(`${r.tensor}.fisher_rows`).data, C = raw.read(`${r.tensor}.fisher_cols`).data;
        assert.deepEqual(raw.tensor(`${r.tensor}.fisher_rows`).shape, [256, 8]);
        let want = 0;
        const perExpert: number[] = [];
        for (let e = 0; e < 8; e++) {
          let cs = 0, pe = 0;
          for (let j = 0; j < 256; j++) cs += C[e * 256 + j]!;
          for (let o = 0; o < 256; o++) {
            let s = 0;
            for (let j = 0; j < 256; j++) { const i = (e * 256 + o) * 256 + j; s += (C[e * 256 + j]! / cs) * (W[i]! - deq[i]!) ** 2; }
            pe += (0.5 * R[e * 256 + o]! / tokens) * s;
          }
          perExpert.push(pe);
          want += pe;
        }
        assert.ok(Math.abs(r.sensitivity - want) <= 1e-5 * want, `${r.tensor} ${r.type}: ${r.sensitivity} vs ${want}`);
        r.experts!.forEach((x, e) => assert.ok(Math.abs(x.predKl! - perExpert[e]!) <= 1e-5 * perExpert[e]!, `${r.tensor} expert ${e}`));
      }
    } finally {
      raw.close();
    }
    // the last block's experts feed no router: routing is untouched and the second-order prediction holds
    for (const r of res.records.filter((x) => x.layer === 3)) {
      const ratio = r.sensitivity / r.measuredKl!;
      assert.ok(ratio > 0.5 && ratio < 2, `${r.tensor} ${r.type}: predicted ${r.sensitivity}, measured ${r.measuredKl}`);
    }
  } finally {
    src.close();
  }
});

test("calibrate: predicted KL ranks measured single-tensor KL (stories260K, held-out tokens)", () => {
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    const m = loadForwardModel(src);
    const text = Int32Array.from(tokenizerOf(src).encode(readTextFile(fx("models/calibration.txt"))));
    // calibrate on 8 chunks of 128 tokens from the second half of the text; measure on the fixture's KL tokens
    const acc = new CalibAccumulator();
    for (let i = 0; i < 8; i++) acc.add(calibrateSequence(m, text.slice(text.length - (i + 1) * 128, text.length - i * 128), 100 + i));
    const dir = mkdtempSync(join(tmpdir(), "qs-calib-"));
    const file = join(dir, "calib.gguf");
    writeFileSync(file, encodeCalibGguf(acc.result(128, 1, headName(m)), { datasets: ["test"] }));
    const kl = prepareKl(m, readTokens(fx("activations/tokens_ctx128.i32"), m.config.vocab, 256), 128);
    const res = sweepModel(src, { types: ["Q4_0", "Q8_0"], calib: readCalib(file)!, kl, tensors: /^(token_embd|output|blk\.[03]\.)/ });
    const recs = res.records.filter((r) => !r.skipped && r.type !== "F16");
    assert.ok(recs.every((r) => r.sensitivitySource === "calib"));
    const pred = recs.map((r) => r.sensitivity), meas = recs.map((r) => r.measuredKl!);
    const rho = spearman(pred, meas);
    const logs = recs.map((r) => Math.abs(Math.log10(r.sensitivity / r.measuredKl!))).sort((a, b) => a - b);
    const med = logs[logs.length >> 1]!;
    assert.ok(rho >= 0.9, `Spearman ${rho}`);
    assert.ok(med <= 0.2, `median |log10(pred/measured)| ${med}`);
  } finally {
    src.close();
  }
});


test("calibrate: tinyqwen block 0 at Q2_K ranks like llama.cpp's KLD (ffn_down most damaging, attn_k / attn_q least)", () => {
  const src = openSource(fx("models/tinyqwen-f16.gguf"));
  try {
    const m = loadForwardModel(src);
    const full = readTextFile(fx("tinyqwen/calibration.txt"));
    const text = Int32Array.from(tokenizerOf(src).encode(full.slice(full.length - 4000)));
    const acc = new CalibAccumulator();
    for (let i = 0; i < 2; i++) acc.add(calibrateSequence(m, text.slice(text.length - (i + 1) * 256, text.length - i * 256), 1 + i));
    const dir = mkdtempSync(join(tmpdir(), "qs-calib-"));
    const file = join(dir, "calib.gguf");
    writeFileSync(file, encodeCalibGguf(acc.result(256, 1, headName(m)), { datasets: ["test"] }));
    const res = sweepModel(src, { types: ["Q2_K"], calib: readCalib(file)!, tensors: /^blk\.0\./ });
    const by = [...res.records].sort((a, b) => b.sensitivity - a.sensitivity).map((r) => r.kind);
    assert.equal(by[0], "ffn_down", by.join(" > "));
    assert.deepEqual(by.slice(-2).sort(), ["attn_k", "attn_q"], by.join(" > "));
    const top = res.records.find((r) => r.kind === "ffn_down")!.sensitivity;
    const second = [...res.records].sort((a, b) => b.sensitivity - a.sensitivity)[1]!.sensitivity;
    assert.ok(top > 1.5 * second, `ffn_down ${top} is not far ahead of ${second}`);
    // row-sampled sweeps: the 95 % intervals cover the exact prediction (at least 80 % of 20 intervals)
    const calib = readCalib(file)!;
    const opt = { types: ["Q2_K", "Q4_K"], calib, tensors: /^blk\.0\.(ffn_up|attn_q)/ };
    const exact = new Map(sweepModel(src, opt).records.map((r) => [r.tensor + r.type, r.sensitivity]));
    let covered = 0, total = 0;
    for (let seed = 1; seed <= 5; seed++) {
      for (const r of sweepModel(src, { ...opt, sample: 0.5, seed }).records) {
        const [lo, hi] = r.ci95!.sensitivity;
        const x = exact.get(r.tensor + r.type)!;
        assert.ok(lo < hi, `${r.tensor} ${r.type}: empty interval`);
        if (lo <= x && x <= hi) covered++;
        total++;
      }
    }
    assert.ok(covered >= 0.8 * total, `${covered}/${total} intervals cover the exact prediction`);
  } finally {
    src.close();
  }
});

test("calibrate CLI: -j 1 and -j 2 write the same file; one-line errors for bad input", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-calib-"));
  const files = ["1", "2"].map((j) => {
    const out = join(dir, `j${j}.gguf`);
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "calibrate", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "-c", "32", "--chunks", "2", "-j", j, "-o", out, "--no-progress"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(out);
  });
  assert.ok(files[0]!.equals(files[1]!), "-j 1 and -j 2 files differ");
  // the same for qwen3moe (per-expert statistics and counts summed in chunk order)
  const moe = ["1", "2"].map((j) => {
    const out = join(dir, `moe-j${j}.gguf`);
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "calibrate", fx("moe/moe-tiny-f16.gguf"), "-f", fx("tinyqwen/calibration.txt"), "-c", "32", "--chunks", "2", "-j", j, "-o", out, "--no-progress"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(out);
  });
  assert.ok(moe[0]!.equals(moe[1]!), "moe-tiny: -j 1 and -j 2 files differ");
  // --imatrix with gradient statistics: the quantizer gets in_sum2, the prediction the gradients
  const sw = spawnSync(process.execPath, ["--import", "tsx", CLI, "sweep", fx("models/stories260K.gguf"), "--imatrix", join(dir, "j1.gguf"), "--types", "Q4_0", "--tensors", "^blk\\.0\\.attn_q", "--json", "--no-progress"], { encoding: "utf8" });
  assert.equal(sw.status, 0, sw.stderr);
  const rec = JSON.parse(sw.stdout).records[0];
  assert.equal(rec.sensitivitySource, "calib");
  assert.equal(rec.usedImatrix, true);
  const bad = spawnSync(process.execPath, ["--import", "tsx", CLI, "calibrate", fx("models/stories260K.gguf"), "-f", fx("models/calibration.txt"), "--samples", "0"], { encoding: "utf8" });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr.trim(), /^quantscope: --samples must be a positive integer, got "0"$/m);
  const plain = spawnSync(process.execPath, ["--import", "tsx", CLI, "sweep", fx("models/stories260K.gguf"), "--calib", fx("imatrix/imatrix.gguf"), "--types", "Q4_0"], { encoding: "utf8" });
  assert.notEqual(plain.status, 0);
  assert.match(plain.stderr, /--calib needs a file from quantscope calibrate/);
});
