// safetensors (single and sharded), npy, split GGUF, GGUF v2, > 4 GiB offsets,
// big-endian refusal, and the inspect / dump commands end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, ftruncateSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { GgufSource } from "../src/io/gguf.js";
import { encodeSafetensors } from "../src/io/safetensors.js";
import { encodeNpy } from "../src/io/npy.js";
import { encodeGguf, encodeGgufHeader } from "../src/io/gguf-write.js";
import { GgufValueType } from "../src/io/gguf-header.js";
import { ggufToHf, hfToGguf } from "../src/io/names.js";
import { readF32Bin } from "../src/io/f32bin.js";
import { isQuantscopeError } from "../src/io/errors.js";
import { Command } from "commander";
import { registerInspect } from "../src/cli/commands/inspect.js";
import { runCli } from "../src/cli/run.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));
const repo = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "qs-io-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test("names: HF <-> GGUF for the Llama/Qwen tensor set, both ways", () => {
  const pairs: [string, string][] = [
    ["model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"],
    ["model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight"],
    ["model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight"],
    ["model.layers.11.self_attn.q_proj.weight", "blk.11.attn_q.weight"],
    ["model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias"],
    ["model.layers.1.self_attn.v_proj.weight", "blk.1.attn_v.weight"],
    ["model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"],
    ["model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight"],
    ["model.layers.1.self_attn.k_norm.weight", "blk.1.attn_k_norm.weight"],
    ["model.layers.2.input_layernorm.weight", "blk.2.attn_norm.weight"],
    ["model.layers.2.post_attention_layernorm.weight", "blk.2.ffn_norm.weight"],
    ["model.embed_tokens.weight", "token_embd.weight"],
    ["model.norm.weight", "output_norm.weight"],
    ["lm_head.weight", "output.weight"],
  ];
  for (const [hf, gg] of pairs) {
    assert.equal(hfToGguf(hf), gg);
    assert.equal(ggufToHf(gg), hf);
  }
  assert.equal(hfToGguf("some.other.tensor"), "some.other.tensor");
});

/** tinyqwen's block-0 weights plus a norm and the embedding, as HF-named safetensors tensors in three dtypes. */
function tinyqwenSafetensors(): { file: Buffer; expected: Map<string, Float32Array>; shapes: Map<string, number[]> } {
  const g = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  const expected = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  const tensors: Parameters<typeof encodeSafetensors>[0] = [];
  try {
    const names = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "blk.0.attn_norm.weight", "token_embd.weight"];
    names.forEach((name, i) => {
      const info = g.tensor(name);
      const m = g.read(name);
      const hfShape = [...info.shape].reverse();
      const dtype = info.type === "F32" ? "F32" : (["F32", "F16", "BF16"] as const)[i % 3]!;
      let data: Uint8Array;
      let exp: Float32Array;
      if (dtype === "F16") {
        data = g.readRaw(name); // the GGUF's own half-precision bytes
        exp = m.data;
      } else if (dtype === "F32") {
        data = new Uint8Array(m.data.slice().buffer);
        exp = m.data;
      } else {
        // bf16 = top 16 bits of the float32 (truncation); expected values computed by masking.
        const bits = new Uint32Array(m.data.slice().buffer);
        data = new Uint8Array(bits.length * 2);
        exp = new Float32Array(bits.length);
        const eb = new Uint32Array(exp.buffer);
        for (let k = 0; k < bits.length; k++) {
          data[2 * k] = (bits[k]! >>> 16) & 0xff;
          data[2 * k + 1] = bits[k]! >>> 24;
          eb[k] = bits[k]! & 0xffff0000;
        }
      }
      tensors.push({ name: ggufToHf(name), dtype, shape: hfShape, data });
      expected.set(name, exp);
      shapes.set(name, info.shape);
    });
  } finally {
    g.close();
  }
  return { file: encodeSafetensors(tensors, { format: "pt" }), expected, shapes };
}

test("safetensors: tinyqwen weights written with HF names (F32/F16/BF16) read back identically through both names", () => {
  const { file, expected, shapes } = tinyqwenSafetensors();
  const path = join(tmp, "model.safetensors");
  writeFileSync(path, file);
  const src = openSource(path);
  try {
    assert.equal(src.format, "safetensors");
    assert.equal(src.metadata.get("format"), "pt");
    assert.deepEqual(new Set(src.tensors().map((t) => t.type)), new Set(["F32", "F16", "BF16"]));
    for (const [name, exp] of expected) {
      const hf = ggufToHf(name);
      const t = src.tensor(name);
      assert.equal(t.originalName, hf);
      assert.deepEqual(t.shape, shapes.get(name));
      assert.equal(src.tensor(hf), t);
      sameBits(src.read(name).data, exp, name);
      sameBits(src.read(hf).data, exp, hf);
      if (t.rows >= 3) sameBits(src.readRows(hf, 1, 2).data, exp.subarray(t.cols, 3 * t.cols), `${hf} rows 1..3`);
    }
  } finally {
    src.close();
  }
});

test("safetensors: a sharded model opens as one through model.safetensors.index.json (file or folder)", () => {
  const { expected } = tinyqwenSafetensors();
  const dir = join(tmp, "sharded");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const names = [...expected.keys()];
  const weightMap: Record<string, string> = {};
  const shards = [names.slice(0, 4), names.slice(4)];
  shards.forEach((group, i) => {
    const fname = `model-0000${i + 1}-of-00002.safetensors`;
    const g = new GgufSource(fx("models/tinyqwen-f16.gguf"));
    try {
      writeFileSync(join(dir, fname), encodeSafetensors(group.map((n) => {
        const info = g.tensor(n);
        weightMap[ggufToHf(n)] = fname;
        return { name: ggufToHf(n), dtype: "F32" as const, shape: [...info.shape].reverse(), data: new Uint8Array(g.read(n).data.buffer) };
      })));
    } finally {
      g.close();
    }
  });
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
  for (const p of [join(dir, "model.safetensors.index.json"), dir]) {
    const src = openSource(p);
    try {
      assert.equal(src.tensors().length, names.length);
      const g = new GgufSource(fx("models/tinyqwen-f16.gguf"));
      try {
        for (const n of names) sameBits(src.read(ggufToHf(n)).data, g.read(n).data, n);
      } finally {
        g.close();
      }
    } finally {
      src.close();
    }
  }
});

test("npy: float32 and float16 round trip, and files written by numpy read as numpy wrote them", () => {
  const m = { rows: 3, cols: 5, data: Float32Array.from({ length: 15 }, (_, i) => (i - 7) * 0.37) };
  for (const dtype of ["F32", "F16"] as const) {
    const path = join(tmp, `rt-${dtype}.npy`);
    writeFileSync(path, encodeNpy(m, dtype));
    const src = openSource(path);
    try {
      assert.equal(src.format, "npy");
      const t = src.tensors()[0]!;
      assert.deepEqual(t.shape, [5, 3]);
      assert.equal(t.type, dtype);
      const back = src.read(t.name).data;
      for (let i = 0; i < 15; i++) {
        if (dtype === "F32") assert.equal(back[i], m.data[i]);
        else assert.ok(Math.abs(back[i]! - m.data[i]!) <= Math.abs(m.data[i]!) * 2 ** -11, `f16 ${i}`);
      }
      // a second round trip through float16 is exact (the values are now halves)
      if (dtype === "F16") {
        const p2 = join(tmp, "rt2.npy");
        writeFileSync(p2, encodeNpy({ rows: 3, cols: 5, data: back }, "F16"));
        const s2 = openSource(p2);
        try { sameBits(s2.read(s2.tensors()[0]!.name).data, back, "f16 twice"); } finally { s2.close(); }
      }
    } finally {
      src.close();
    }
  }
  // Bytes from numpy 2.x np.save (see the values in the comment of each).
  const numpyFiles: [string, number[], number[]][] = [
    ["k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAQwKabRDsA4H9HAAAAgAAA5EA=", [3, 2], [1.5, -2.25, Math.fround(3e-3), 65504, -0, 7.125]],
    ["k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPoDAJRr/ewCAIEc=", [3, 2], [1.5, -2.25, 0.0030002593994140625, 65504, -0, 7.125]],
    ["k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMsIDQpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEAAAMBAAADgQAAAAEEAABBBAAAgQQAAMEEAAEBBAABQQQAAYEEAAHBBAACAQQAAiEEAAJBBAACYQQAAoEEAAKhBAACwQQAAuEE=", [4, 3, 2], Array.from({ length: 24 }, (_, i) => i)],
  ];
  numpyFiles.forEach(([b64, shape, values], i) => {
    const path = join(tmp, `numpy-${i}.npy`);
    writeFileSync(path, Buffer.from(b64, "base64"));
    const src = openSource(path);
    try {
      const t = src.tensors()[0]!;
      assert.deepEqual(t.shape, shape);
      assert.equal(t.rows, shape.slice(1).reduce((a, b) => a * b, 1));
      const data = src.read(t.name).data;
      values.forEach((v, k) => assert.ok(Object.is(data[k], v), `numpy file ${i} [${k}]: ${data[k]} vs ${v}`));
    } finally {
      src.close();
    }
  });
});

/** stories260K split into n shards the way gguf-split does it (split.* keys, metadata only in shard 1). */
function splitStories(n: number, dir: string): string[] {
  const src = new GgufSource(fx("models/stories260K.gguf"));
  const paths: string[] = [];
  try {
    const tensors = src.tensors();
    const per = Math.ceil(tensors.length / n);
    for (let i = 0; i < n; i++) {
      const group = tensors.slice(i * per, (i + 1) * per);
      const kvs = [
        ...(i === 0 ? src.kvs() : []),
        { key: "split.no", type: GgufValueType.UINT16, value: i },
        { key: "split.count", type: GgufValueType.UINT16, value: n },
        { key: "split.tensors.count", type: GgufValueType.INT32, value: tensors.length },
      ];
      const p = join(dir, `stories-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.gguf`);
      writeFileSync(p, encodeGguf(kvs, group.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: src.readRaw(t.name) }))));
      paths.push(p);
    }
  } finally {
    src.close();
  }
  return paths;
}

test("split GGUF (-00001-of-00003.gguf) opens as one model with every tensor intact", () => {
  const dir = mkdtempSync(join(tmp, "split-"));
  const paths = splitStories(3, dir);
  const whole = new GgufSource(fx("models/stories260K.gguf"));
  const split = openSource(paths[0]!);
  try {
    assert.equal(split.tensors().length, 48);
    assert.equal(split.metadata.get("general.architecture"), "llama");
    for (const t of whole.tensors()) sameBits(split.read(t.name).data, whole.read(t.name).data, t.name);
    assert.notEqual(split.tensor("output_norm.weight").file, split.tensor("blk.4.ffn_up.weight").file);
  } finally {
    whole.close();
    split.close();
  }
  rmSync(paths[2]!);
  assert.throws(() => openSource(paths[0]!), /split model is missing 1 of 3 shards/);
});

test("GGUF v2 reads like v3; big-endian and v1 files are refused by name", () => {
  const orig = readFileSync(fx("models/stories260K.gguf"));
  const v2 = Buffer.from(orig);
  v2.writeUInt32LE(2, 4);
  const p2 = join(tmp, "v2.gguf");
  writeFileSync(p2, v2);
  const s = openSource(p2);
  try {
    assert.equal((s as GgufSource).headers[0]!.version, 2);
    sameBits(s.read("blk.1.ffn_down.weight").data, readF32Bin(fx("activations/blk_1_ffn_down_weight.f32bin")).data, "v2");
  } finally {
    s.close();
  }
  const be = Buffer.from(orig);
  be.writeUInt32BE(3, 4);
  const pbe = join(tmp, "be.gguf");
  writeFileSync(pbe, be);
  assert.throws(() => openSource(pbe), (e: unknown) => isQuantscopeError(e) && /be\.gguf: version at byte 4: big-endian GGUF/.test(e.message));
  const v1 = Buffer.from(orig);
  v1.writeUInt32LE(1, 4);
  const pv1 = join(tmp, "v1.gguf");
  writeFileSync(pv1, v1);
  assert.throws(() => openSource(pv1), /version at byte 4: GGUF v1 is not supported/);
});

test("GGUF tensor data beyond 4 GiB (sparse file) is found with 64-bit offsets", () => {
  const values = Float32Array.from({ length: 64 }, (_, i) => i * 0.5 - 3);
  const relOffset = 2 ** 32 + 4096; // past 4 GiB
  // Header from the writer, then patch the tensor's offset field:
  // name bytes, n_dims (u32), 2 dims (u64 each), type (u32), then the u64 offset.
  const { header } = encodeGgufHeader([{ key: "general.architecture", type: GgufValueType.STRING, value: "test" }], [{ name: "big.weight", shape: [32, 2], type: "F32" }]);
  const offsetField = header.lastIndexOf(Buffer.from("big.weight")) + "big.weight".length + 4 + 16 + 4;
  header.writeBigUInt64LE(BigInt(relOffset), offsetField);
  const path = join(tmp, "huge.gguf");
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header, 0, header.length, 0);
    ftruncateSync(fd, header.length + relOffset + values.byteLength);
    writeSync(fd, new Uint8Array(values.buffer), 0, values.byteLength, header.length + relOffset);
  } finally {
    closeSync(fd);
  }
  const src = openSource(path);
  try {
    const t = src.tensor("big.weight");
    assert.equal(t.offset, BigInt(header.length + relOffset));
    sameBits(src.read("big.weight").data, values, "data past 4 GiB");
    sameBits(src.readRows("big.weight", 1, 1).data, values.subarray(32), "row past 4 GiB");
  } finally {
    src.close();
    rmSync(path);
  }
});

/** Runs inspect/dump in-process (spawning tsx costs ~2 s each); stdout, stderr and exit code captured. */
async function cliInProcess(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command("quantscope");
  registerInspect(program);
  let out = "", err = "";
  const w1 = process.stdout.write.bind(process.stdout), w2 = process.stderr.write.bind(process.stderr);
  const saved = process.exitCode;
  process.exitCode = 0;
  process.stdout.write = ((c: string) => { out += c; return true; }) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => { err += c; return true; }) as typeof process.stderr.write;
  try {
    await runCli(program, ["node", "quantscope", ...args]);
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = saved;
  return { code, out, err };
}

test("CLI: inspect prints the tensor table, JSON, imatrix statistics; dump writes f32bin/npy; bad input is one line, exit 2", async () => {
  const a = await cliInProcess("inspect", fx("models/tinyqwen-Q4_K_M.gguf"));
  assert.equal(a.code, 0, a.err + a.out.slice(0, 300));
  assert.match(a.out, /architecture: +qwen3/);
  assert.match(a.out, /blk\.0\.ffn_down\.weight +1024 x 256 +Q4_K +4\.50 +147456/);
  assert.match(a.out, /overall bpw: +4\.7301/); // 4,109,824 tensor bytes * 8 / 6,950,912 weights
  const j = JSON.parse((await cliInProcess("inspect", fx("models/stories260K.gguf"), "--json")).out);
  assert.equal(j.tensors.length, 48);
  assert.equal(j.key.layers, 5);
  const im = await cliInProcess("inspect", fx("imatrix/imatrix.dat"));
  assert.equal(im.code, 0, im.err);
  assert.match(im.out, /    0\tffn_down            \t      7\.03\t  0\.0065\t     0\.2986/);
  const out = join(tmp, "dump.f32bin");
  const d = await cliInProcess("dump", fx("models/stories260K.gguf"), "--tensor", "blk.2.ffn_gate.weight", "--out", out);
  assert.equal(d.code, 0, d.err);
  assert.deepEqual(readFileSync(out), readFileSync(fx("activations/blk_2_ffn_gate_weight.f32bin")));
  const npyOut = join(tmp, "dump.npy");
  assert.equal((await cliInProcess("dump", fx("models/tinyqwen-f16.gguf"), "--tensor", "model.layers.3.mlp.down_proj.weight", "--out", npyOut)).code, 0);
  const back = openSource(npyOut);
  try {
    sameBits(back.read(back.tensors()[0]!.name).data, readF32Bin(fx("tinyqwen/seed-blk3/data/blk_0_ffn_down_weight.f32bin")).data, "npy dump");
  } finally {
    back.close();
  }
  const bad = join(tmp, "bad.gguf");
  writeFileSync(bad, Buffer.concat([Buffer.from("GGUF"), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8, 0xff), Buffer.alloc(8)]));
  for (const args of [["inspect", bad], ["dump", fx("models/stories260K.gguf"), "--tensor", "nope", "--out", out], ["inspect", join(tmp, "missing.gguf")], ["dump", fx("models/stories260K.gguf"), "--tensor", "output.weight", "--out", join(tmp, "x.txt")]]) {
    const r = await cliInProcess(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
    assert.match(r.err, /^quantscope: /);
  }
  assert.match((await cliInProcess("inspect", bad)).err, /bad\.gguf: tensor_count at byte 8: tensor_count 18446744073709551615 cannot fit/);
});

test("CLI binary: a corrupt file gives one line on stderr and exit code 2 (spawned)", () => {
  const bad = join(tmp, "bad2.gguf");
  writeFileSync(bad, Buffer.from("GGUF\x03\x00\x00\x00", "latin1"));
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "inspect", bad], { cwd: repo, encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^quantscope: .*bad2\.gguf: tensor_count at byte 8: needs 8 bytes but only 0 remain/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
});

test("types without a codec are listed by inspect but reading them names the type, tensor and file; unsupported safetensors dtypes are refused by name", async () => {
  const path = join(tmp, "iq.gguf");
  writeFileSync(path, encodeGguf([{ key: "general.architecture", type: GgufValueType.STRING, value: "llama" }], [
    { name: "blk.0.ffn_up.weight", shape: [256, 2], type: "Q8_1", data: new Uint8Array(2 * 8 * 36) },
    { name: "blk.0.ffn_norm.weight", shape: [256], type: "F32", data: new Uint8Array(1024) },
  ]));
  const src = openSource(path);
  try {
    assert.equal(src.tensor("blk.0.ffn_up.weight").type, "Q8_1");
    assert.throws(() => src.read("blk.0.ffn_up.weight"), (e: unknown) => isQuantscopeError(e) && e.file === path && /tensor "blk\.0\.ffn_up\.weight" type at byte \d+: tensor "blk\.0\.ffn_up\.weight": type Q8_1 is not supported/.test(e.message));
    assert.equal(src.read("blk.0.ffn_norm.weight").data.length, 256);
  } finally {
    src.close();
  }
  const r = await cliInProcess("inspect", path);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /blk\.0\.ffn_up\.weight +256 x 2 +Q8_1 +9\.00 +576/);
  const st = join(tmp, "i8.safetensors");
  // Same length replacement ("F32" -> "I8 ") keeps the header size field valid.
  const stBytes = encodeSafetensors([{ name: "x", dtype: "F32", shape: [2], data: new Uint8Array(8) }]).toString("latin1").replace('"F32"', '"I8" ');
  writeFileSync(st, Buffer.from(stBytes, "latin1"));
  assert.throws(() => openSource(st), /i8\.safetensors: tensor "x" dtype at byte 8: dtype I8 is not supported \(F32, F16, BF16\)/);
});
