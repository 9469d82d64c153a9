// MoE through the readers and quantizeTensor: every tensor llama-quantize wrote
// into moe-tiny-Q4_K_M.gguf / moe-tiny-IQ2_XXS.gguf (from moe-tiny-f16.gguf with
// moe-tiny-imatrix.gguf) is reproduced byte for byte, the 3-D expert tensors
// expert by expert with each expert's imatrix slice. The per-expert imatrix
// values are checked against in_sum2 / counts computed here from the raw tensors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGguf } from "../src/io/gguf-write.js";
import { GgufValueType } from "../src/io/gguf-header.js";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/source.js";
import { expertImatrix, expertTokens } from "../src/io/imatrix.js";
import { expertCount, expertRows, isExpertTensor, readExpert, readExpertRaw, moeFacts } from "../src/io/experts.js";
import { supportedTypes } from "../src/quant/index.js";
import { dequantizeTensor, quantizeTensor, quantizeTensorParallel, tensorImatrix, tensorBytes } from "../src/quant/tensor.js";
import { closeQuantizePool } from "../src/quant/parallel.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const F16 = fx("moe/moe-tiny-f16.gguf");
const IMATRIX = fx("moe/moe-tiny-imatrix.gguf");

function storedTypes(file: string): Map<string, string> {
  const q = new GgufSource(fx(`moe/${file}`));
  try {
    return new Map(q.tensors().map((t) => [t.name, t.type]));
  } finally {
    q.close();
  }
}

for (const file of ["moe-tiny-Q4_K_M.gguf", "moe-tiny-IQ2_XXS.gguf"]) {
  const supported = new Set([...supportedTypes(), "F32"]);
  const types = storedTypes(file);
  const missing = [...new Set([...types.values()].filter((t) => !supported.has(t)))].sort();
  const withCodec = [...types].filter(([, t]) => supported.has(t)).map(([n]) => n);
  const without = [...types].filter(([, t]) => !supported.has(t)).map(([n]) => n);

  const check = (names: string[]) => {
    const ref = new GgufSource(F16);
    const q = new GgufSource(fx(`moe/${file}`));
    const im = readImatrix(IMATRIX);
    const checked: Record<string, number> = {};
    let experts = 0, withIm = 0;
    try {
      assert.deepEqual(q.tensors().map((x) => x.name).sort(), ref.tensors().map((x) => x.name).sort());
      for (const name of names) {
        const info = q.tensor(name);
        const orig = ref.read(name);
        assert.deepEqual(ref.tensor(name).shape, info.shape, `${name}: shape`);
        const imv = tensorImatrix(im, info); // token_embd / output have no entry: quantized without one
        const mine = quantizeTensor(info.type, orig.data, info.shape, imv);
        const theirs = q.readRaw(name);
        assert.equal(mine.length, theirs.length, `${name}: byte count`);
        assert.equal(mine.length, tensorBytes(info.type, info.shape));
        const diff = mine.findIndex((b, i) => b !== theirs[i]);
        assert.equal(diff, -1, `${name} (${info.type}${imv ? ", imatrix" : ""}): first differing byte at ${diff}`);
        if (isExpertTensor(info)) experts++;
        if (imv && info.type !== "F32") withIm++;
        checked[info.type] = (checked[info.type] ?? 0) + 1;
      }
    } finally {
      ref.close();
      q.close();
    }
    return { checked, experts, withIm };
  };

  test(`${file}: every tensor whose type has a codec is reproduced byte for byte from the F16 model + imatrix`, (t) => {
    const r = check(withCodec);
    t.diagnostic(`checked ${JSON.stringify(r.checked)}, ${r.experts} expert tensors, ${r.withIm} with an imatrix`);
    if (file.includes("Q4_K_M")) {
      assert.equal(without.length, 0, "every type in the Q4_K_M file has a codec");
      assert.equal(withCodec.length, 51);
      assert.equal(r.experts, 12, "all 12 expert tensors (4 blocks x gate/up/down) checked");
      assert.equal(r.withIm, 4 * 7, "attn_q/k/v/output + 3 expert tensors per block used the imatrix");
    } else {
      assert.equal(without.length, 0, "every type in the IQ2_XXS file has a codec");
      assert.equal(withCodec.length, 51, "51 tensors, 16 of them IQ2_XXS");
      assert.equal(r.withIm, 4 * 3 + 16, "attn_k/v/output, and the 16 IQ2_XXS tensors (attn_q, experts), use the imatrix");
    }
  });

  if (file.includes("IQ2_XXS")) {
    test(`${file}: the IQ2_XXS tensors (12 expert tensors + 4 attn_q) are reproduced byte for byte`, (t) => {
      assert.equal(missing.length, 0, `codecs missing: ${missing.join(", ")}`);
      const iq = [...types].filter(([, ty]) => ty === "IQ2_XXS").map(([n]) => n);
      assert.equal(iq.length, 16);
      const r = check(iq);
      t.diagnostic(`checked ${JSON.stringify(r.checked)}, ${r.experts} expert tensors`);
      assert.equal(r.experts, 12);
      assert.equal(r.withIm, 16, "IQ2_XXS requires the imatrix");
    });
  }
}

test("moe-tiny-imatrix.gguf: per-expert values equal in_sum2 / counts per expert, computed from the raw tensors", () => {
  const im = readImatrix(IMATRIX);
  const raw = new GgufSource(IMATRIX);
  let expertEntries = 0;
  try {
    for (const t of raw.tensors()) {
      if (!t.name.endsWith(".in_sum2")) continue;
      const name = t.name.slice(0, -".in_sum2".length);
      const sums = raw.read(t.name);
      const counts = raw.read(`${name}.counts`).data;
      const e = im.entries.get(name)!;
      assert.equal(e.values.length, sums.rows * sums.cols);
      assert.equal(e.experts, sums.rows > 1 ? sums.rows : undefined, name);
      assert.deepEqual(e.counts, Array.from(counts), name);
      assert.equal(e.count, Array.from(counts).reduce((a, b) => a + b, 0));
      for (let x = 0; x < sums.rows; x++) {
        const c = counts[x]!;
        const v = expertImatrix(e, sums.cols, x);
        assert.equal(expertTokens(e, x), c);
        for (let j = 0; j < sums.cols; j++) {
          // float32 division (a double quotient of two floats rounds to the float quotient); 1 where count is 0
          const want = c > 0 ? Math.fround(sums.data[x * sums.cols + j]! / c) : 1;
          if (!Object.is(v[j], want)) assert.fail(`${name} expert ${x} column ${j}: ${v[j]} vs ${want}`);
        }
      }
      if (sums.rows > 1) expertEntries++;
    }
  } finally {
    raw.close();
  }
  assert.equal(expertEntries, 12);
  const down = im.entries.get("blk.1.ffn_down_exps.weight")!;
  assert.deepEqual(down.counts, [5842, 1521, 759, 2862, 1479, 5516, 277, 2224]);
  assert.equal(down.experts, 8);
});

test("moe-tiny-f16.gguf: 3-D expert tensors, expert slices and MoE facts", () => {
  const src = new GgufSource(F16);
  try {
    const info = src.tensor("blk.2.ffn_up_exps.weight");
    assert.deepEqual(info.shape, [256, 256, 8]);
    assert.equal(info.rows, 256 * 8);
    assert.equal(info.cols, 256);
    assert.equal(expertCount(info), 8);
    assert.equal(expertRows(info), 256);
    assert.equal(expertCount(src.tensor("blk.2.attn_q.weight")), 1);
    const all = src.read(info.name).data;
    const e5 = readExpert(src, info.name, 5);
    assert.equal(e5.rows, 256);
    assert.deepEqual(e5.data, all.subarray(5 * 256 * 256, 6 * 256 * 256));
    const rawAll = src.readRaw(info.name);
    assert.deepEqual(readExpertRaw(src, info.name, 7), rawAll.subarray(7 * 256 * 512, 8 * 256 * 512));
    assert.throws(() => readExpert(src, info.name, 8), /has 8 experts .*no expert 8/);
    const m = moeFacts(src)!;
    assert.equal(m.experts, 8);
    assert.equal(m.expertsUsed, 2);
    assert.equal(m.expertFfn, 256);
    assert.equal(m.expertTensors.length, 12);
    assert.equal(m.expertBytes, 12 * 256 * 256 * 8 * 2);
    assert.equal(m.totalBytes, src.tensors().reduce((s, t) => s + t.byteSize, 0));
  } finally {
    src.close();
  }
});

test("quantizeTensor: expert e is quantize() of its slice with its imatrix slice; bad imatrix sizes are refused", () => {
  const src = new GgufSource(F16);
  const im = readImatrix(IMATRIX);
  try {
    const info = src.tensor("blk.3.ffn_gate_exps.weight");
    const all = src.read(info.name).data;
    const e = im.entries.get(info.name)!;
    const whole = quantizeTensor("Q4_K", all, info.shape, e);
    const one = quantizeTensor("Q4_K", readExpert(src, info.name, 6).data, [256, 256], expertImatrix(e, 256, 6));
    const sb = one.length;
    assert.deepEqual(whole.subarray(6 * sb, 7 * sb), one);
    // The same slice with another expert's imatrix gives other bytes: the slices are not interchangeable.
    const other = quantizeTensor("Q4_K", readExpert(src, info.name, 6).data, [256, 256], expertImatrix(e, 256, 0));
    assert.notDeepEqual(other, one);
    assert.throws(() => quantizeTensor("Q4_K", all, info.shape, expertImatrix(e, 256, 0)), /has 256 values, the tensor \[256, 256, 8\] needs 2048/);
    assert.throws(() => tensorImatrix(im, { ...info, name: "blk.3.attn_q.weight" }), /imatrix entry blk\.3\.attn_q\.weight has 256 values, the tensor \[256, 256, 8\] needs 2048/);
    assert.equal(tensorImatrix(im, src.tensor("token_embd.weight")), undefined);
    const back = dequantizeTensor("Q4_K", whole, info.shape);
    assert.equal(back.length, all.length);
    assert.deepEqual(dequantizeTensor("F32", quantizeTensor("F32", all, info.shape), info.shape), all);
  } finally {
    src.close();
  }
});

test("GGUF imatrix: an expert with count 0 gets 1 in every column (llama-quantize), counts are rounded; a bad counts shape is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-moe-"));
  try {
    const f32 = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);
    const sums = [4, 8, 7, 9, 3, 6]; // 3 experts x 2 columns
    const kvs = [{ key: "general.type", type: GgufValueType.STRING, value: "imatrix" }];
    const good = join(dir, "good.gguf");
    writeFileSync(good, encodeGguf(kvs, [
      { name: "blk.0.ffn_up_exps.weight.in_sum2", shape: [2, 3], type: "F32", data: f32(sums) },
      { name: "blk.0.ffn_up_exps.weight.counts", shape: [1, 3], type: "F32", data: f32([4, 0, 2.6]) },
    ]));
    const e = readImatrix(good).entries.get("blk.0.ffn_up_exps.weight")!;
    assert.equal(e.experts, 3);
    assert.deepEqual(e.counts, [4, 0, 3]);
    assert.deepEqual(Array.from(e.values), [1, 2, 1, 1, 1, 2]);
    assert.deepEqual(Array.from(expertImatrix(e, 2, 1)), [1, 1]);
    const bad = join(dir, "bad.gguf");
    writeFileSync(bad, encodeGguf(kvs, [
      { name: "w.in_sum2", shape: [2, 3], type: "F32", data: f32(sums) },
      { name: "w.counts", shape: [3, 1], type: "F32", data: f32([4, 0, 2]) },
    ]));
    assert.throws(() => readImatrix(bad), /bad\.gguf: tensor "w\.counts" at byte \d+: counts shape \[3, 1\] should be \[1, 3\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("quantizeTensorParallel gives quantizeTensor's bytes for a 3-D tensor with its imatrix", async () => {
  const src = new GgufSource(F16);
  const im = readImatrix(IMATRIX);
  try {
    // 256 columns x 1024 rows per "expert": above the parallel threshold, so the rows really go to workers.
    const info = src.tensor("blk.0.ffn_up_exps.weight");
    const data = src.read(info.name).data;
    const shape = [256, 1024, 2];
    const imv = Float32Array.from([...expertImatrix(im.entries.get(info.name)!, 256, 3), ...expertImatrix(im.entries.get(info.name)!, 256, 6)]);
    const a = quantizeTensor("Q4_K", data, shape, imv);
    const b = await quantizeTensorParallel("Q4_K", data, shape, imv, 2);
    assert.deepEqual(b, a);
  } finally {
    src.close();
    await closeQuantizePool();
  }
});
