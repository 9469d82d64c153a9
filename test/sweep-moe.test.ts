// MoE sweep and plan on moe-tiny: 3-D expert tensors measured against a
// from-scratch computation on quantizeTensor's round trip (llama-quantize's
// per-expert slicing with each expert's imatrix vector, byte-checked against
// moe-tiny-Q4_K_M.gguf in test/moe-requantize.test.ts); the plan's tensor-type
// file as llama-quantize parses it; its predicted size against an independent
// size computation and against real llama-quantize outputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { plan } from "../src/analysis/plan/plan.js";
import { roundTripTensor } from "../src/quant/tensor.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const MODEL = fx("moe/moe-tiny-f16.gguf");
const IMATRIX = fx("moe/moe-tiny-imatrix.gguf");
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8" });

/** ggml block size and bytes per block, written out here (not src/ggml/types.ts). */
const TYPE_TABLE: Record<string, [number, number]> = {
  F32: [1, 4], F16: [1, 2], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q8_0: [32, 34],
  Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210],
  // ggml-common.h block sizes of the other types the plan's menu may choose
  IQ4_NL: [32, 18], IQ4_XS: [256, 136], IQ3_XXS: [256, 98], IQ3_S: [256, 110], IQ2_XXS: [256, 66], IQ2_XS: [256, 74],
  IQ2_S: [256, 82], IQ1_S: [256, 50], IQ1_M: [256, 56], TQ1_0: [256, 54], TQ2_0: [256, 66], MXFP4: [32, 17],
  NVFP4: [64, 36], Q1_0: [128, 18], Q2_0: [64, 18], BF16: [1, 2],
};
const bytesOf = (type: string, ne: number[]) => {
  const [b, s] = TYPE_TABLE[type.toUpperCase()]!;
  return (ne.reduce((x, y) => x * y, 1) / b) * s;
};

test("expert tensors: metrics equal a from-scratch computation on llama-quantize's per-expert round trip", () => {
  const src = openSource(MODEL);
  const im = readImatrix(IMATRIX);
  try {
    const res = sweepModel(src, { imatrix: im, types: ["Q2_K", "Q4_K"], tensors: /^blk\.[03]\.ffn_(gate|down)_exps\./ });
    assert.equal(res.records.length, 8);
    for (const r of res.records) {
      const info = src.tensor(r.tensor);
      assert.deepEqual(info.shape, [256, 256, 8]);
      const W = src.read(r.tensor).data;
      const entry = im.entries.get(r.tensor)!;
      const deq = roundTripTensor(r.type, W, info.shape, entry);
      const C = 256, per = 256 * 256;
      const E = W.map((w, i) => w - deq[i]!);
      const n = E.length;
      let e2 = 0, w2 = 0, ve2 = 0, vw2 = 0;
      for (let i = 0; i < n; i++) {
        const v = entry.values[Math.floor(i / per) * C + (i % C)]!; // expert e's vector for column i % C
        e2 += E[i]! ** 2; w2 += W[i]! ** 2; ve2 += v * E[i]! ** 2; vw2 += v * W[i]! ** 2;
      }
      const sorted = Float64Array.from(E, Math.abs).sort();
      const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.abs(b) + 1e-15, `${r.tensor} ${r.type} ${what}: ${a} vs ${b}`);
      close(r.rmse, Math.sqrt(e2 / n), "rmse");
      close(r.relRmse, Math.sqrt(e2 / w2), "relRmse");
      close(r.maxAbsErr, sorted[n - 1]!, "max");
      close(r.medianAbsErr, sorted[Math.ceil(0.5 * n) - 1]!, "median");
      close(r.p95AbsErr, sorted[Math.ceil(0.95 * n) - 1]!, "p95");
      close(r.imatrixMse!, ve2 / n, "imatrixMse");
      close(r.outputRelErr, Math.sqrt(ve2 / vw2), "outputRelErr");
      assert.equal(r.bytes, bytesOf(r.type, info.shape));
      // per expert
      assert.equal(r.experts!.length, 8);
      for (const x of r.experts!) {
        let a = 0, b = 0, c = 0, d = 0, mx = 0;
        for (let i = x.expert * per; i < (x.expert + 1) * per; i++) {
          const v = entry.values[x.expert * C + (i % C)]!;
          a += E[i]! ** 2; b += W[i]! ** 2; c += v * E[i]! ** 2; d += v * W[i]! ** 2; mx = Math.max(mx, Math.abs(E[i]!));
        }
        assert.equal(x.rows, 256);
        assert.equal(x.tokens, entry.counts![x.expert]);
        close(x.rmse, Math.sqrt(a / per), `expert ${x.expert} rmse`);
        close(x.relRmse, Math.sqrt(a / b), `expert ${x.expert} relRmse`);
        close(x.maxAbsErr, mx, `expert ${x.expert} max`);
        close(x.imatrixMse!, c / per, `expert ${x.expert} imatrixMse`);
        close(x.outputRelErr, Math.sqrt(c / d), `expert ${x.expert} outputRelErr`);
      }
      // the borrowed gain is marked, with its range
      assert.equal(r.sensitivityBasis?.fitted, false);
      assert.deepEqual(r.sensitivityBasis!.range, [r.sensitivity / r.sensitivityBasis!.uncertaintyFactor, r.sensitivity * r.sensitivityBasis!.uncertaintyFactor]);
    }
    assert.ok(res.notes.some((n) => /expert tensors .* borrows the dense FFN gain/.test(n)), res.notes.join("\n"));
    // dense tensors carry no basis
    const dense = sweepModel(src, { imatrix: im, types: ["Q4_K"], tensors: /^blk\.0\.attn_v\./ });
    assert.equal(dense.records[0]!.sensitivityBasis, undefined);
    assert.equal(dense.records[0]!.experts, undefined);
  } finally {
    src.close();
  }
});

test("plan --target-bpw 2.7 --emit tensor-types on moe-tiny: a file llama-quantize parses, expert tensors included; size predicted within 0.1 %", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-moe-"));
  const out = join(dir, "plan.txt");
  const r = run("plan", MODEL, "--imatrix", IMATRIX, "--target-bpw", "2.7", "--emit", "tensor-types", "-o", out, "--json");
  assert.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  const src = openSource(MODEL);
  try {
    // llama-quantize: whitespace-separated NAME=TYPE items, NAME a regex (regex_search), TYPE a ggml type name
    const items = readFileSync(out, "utf8").split(/\s+/).filter(Boolean);
    const names = src.tensors().map((t) => t.name);
    const typeOf = new Map<string, string>();
    for (const it of items) {
      const m = /^(.+)=([a-z0-9_]+?)$/i.exec(it);
      assert.ok(m, it);
      assert.ok(m[2]!.toUpperCase() in TYPE_TABLE, `type ${m[2]}`);
      const re = new RegExp(m[1]!.toLowerCase());
      const hits = names.filter((n) => re.test(n));
      assert.equal(hits.length, 1, `${m[1]} matches ${hits.join(", ")}`);
      assert.ok(!typeOf.has(hits[0]!), `${hits[0]} listed twice`);
      typeOf.set(hits[0]!, m[2]!.toUpperCase());
    }
    const quantizable = src.tensors().filter((t) => t.shape.length >= 2 && !t.name.includes("ffn_gate_inp"));
    assert.deepEqual([...typeOf.keys()].sort(), quantizable.map((t) => t.name).sort());
    assert.equal(quantizable.filter((t) => t.name.includes("_exps.")).length, 12);
    // size: emitted types from the table above, everything else as llama-quantize keeps it (F32), plus the
    // source file's non-tensor bytes (GGUF header and metadata)
    const srcTensorBytes = src.tensors().reduce((s, t) => s + bytesOf(t.type, t.shape), 0);
    const overhead = statSync(MODEL).size - srcTensorBytes;
    const predicted = src.tensors().reduce((s, t) => s + bytesOf(typeOf.get(t.name) ?? "F32", t.shape), 0) + overhead;
    // this estimate leaves out what llama-quantize adds (its quantize.* / general.file_type keys and each
    // tensor's 32-byte padding: a few hundred bytes), which the plan models (exact against 64 real files
    // in mixes-csv.test.ts): within 0.1 %
    assert.ok(Math.abs(p.fileBytes - predicted) <= 1e-3 * predicted, `plan ${p.fileBytes} vs ${predicted}`);
    assert.ok(p.fileBytes >= predicted, "padding and added keys only add bytes");
    assert.ok(p.bpw <= 2.7 + 1e-9, `bpw ${p.bpw}`);
  } finally {
    src.close();
  }
});

test("predicted sizes against llama-quantize's real files: the plan machinery with every tensor pinned to a real mix's types", () => {
  const csv = readFileSync(fx("mixes/llama_quantize_tensor_types.csv"), "utf8").trim().split("\n").slice(1).map((l) => l.split(","));
  const src = openSource(MODEL);
  const im = readImatrix(IMATRIX);
  try {
    const sweep = sweepModel(src, { imatrix: im, types: ["Q4_K"] });
    const srcTensorBytes = src.tensors().reduce((s, t) => s + bytesOf(t.type, t.shape), 0);
    const overhead = statSync(MODEL).size - srcTensorBytes;
    let checked = 0;
    for (const ftype of ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0"]) {
      const rows = csv.filter((c) => c[0] === "moe-tiny-f16.gguf" && c[1] === ftype);
      const real = Number(rows.find((c) => c[2] === "(file)")![5]);
      const pins = new Map<string, string>();
      for (const [, , tensor, type, ne, bytes] of rows.filter((c) => c[2] !== "(file)")) {
        assert.equal(bytesOf(type!, ne!.split("x").map(Number)), Number(bytes), `${ftype} ${tensor}: the type table`);
        if (sweep.records.some((r) => r.tensor === tensor)) pins.set(tensor!, type!);
      }
      const p = plan(sweep, { targetSize: 1e12, overheadBytes: overhead, pins, hasImatrix: true });
      assert.ok(Math.abs(p.fileBytes - real) / real < 1e-3, `${ftype}: predicted ${p.fileBytes}, llama-quantize wrote ${real}`);
      checked++;
    }
    assert.equal(checked, 7);
  } finally {
    src.close();
  }
});
