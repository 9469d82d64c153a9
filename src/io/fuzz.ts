// Mutation fuzzing harness for the readers, shared by scripts/fuzz.ts and
// test/io-fuzz.test.ts. Seeds are small real files (or files built from
// real tensors); mutations flip bits, truncate, splice random bytes and set
// structural fields (counts, string lengths, dims, offsets, alignment, JSON
// header size) to hostile values. The only acceptable outcome of parsing
// and reading a mutant is success or a QuantscopeError whose one-line
// message names the file, the field and the byte offset.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isQuantscopeError } from "./errors.js";
import { GgufSource } from "./gguf.js";
import { GgufValueType } from "./gguf-header.js";
import { encodeGguf } from "./gguf-write.js";
import { readImatrix } from "./imatrix.js";
import { NpySource, encodeNpy } from "./npy.js";
import { SafetensorsSource, encodeSafetensors } from "./safetensors.js";
import { F32BinSource } from "./f32bin-source.js";
import { readF32Bin, encodeF32Bin } from "./f32bin.js";
import { imatrixStatistics } from "../analysis/imatrix/stats.js";
import { expertTokenGroups } from "../analysis/imatrix/expert-tokens.js";
import { moeFacts, readExpert, expertCount } from "./experts.js";
import type { TensorSource } from "./source.js";

export const FUZZ_PARSERS = ["gguf", "safetensors", "imatrix", "npy", "f32bin"] as const;
export type FuzzParser = (typeof FUZZ_PARSERS)[number];

/** A structural field in a seed: where it is and how wide. */
export interface FieldRef { offset: number; size: 1 | 2 | 4 | 8; name: string; }
export interface FuzzSeed { name: string; bytes: Buffer; fields: FieldRef[]; }

/** Small deterministic PRNG (mulberry32) so a failing iteration can be replayed. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
}

// ---------------------------------------------------------------- seeds

/** Field map of a valid GGUF (walks it without validation). */
export function ggufFields(b: Buffer): FieldRef[] {
  const f: FieldRef[] = [{ offset: 4, size: 4, name: "version" }, { offset: 8, size: 8, name: "tensor_count" }, { offset: 16, size: 8, name: "kv_count" }];
  let p = 24;
  const nT = Number(b.readBigUInt64LE(8));
  const nKv = Number(b.readBigUInt64LE(16));
  const str = (name: string) => { f.push({ offset: p, size: 8, name: `${name} length` }); p += 8 + Number(b.readBigUInt64LE(p)); };
  const SZ: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (type: number, name: string, depth: number): void => {
    if (type === GgufValueType.STRING) return str(name);
    if (type === GgufValueType.ARRAY) {
      f.push({ offset: p, size: 4, name: `${name} element type` });
      const et = b.readUInt32LE(p);
      f.push({ offset: p + 4, size: 8, name: `${name} array length` });
      const n = Number(b.readBigUInt64LE(p + 4));
      p += 12;
      // Record only the first few elements' fields; skip the rest.
      for (let i = 0; i < n; i++) {
        if (i < 3 || et === GgufValueType.ARRAY) value(et, `${name}[${i}]`, depth + 1);
        else if (et === GgufValueType.STRING) p += 8 + Number(b.readBigUInt64LE(p));
        else p += SZ[et]!;
      }
      return;
    }
    if (name === "general.alignment") f.push({ offset: p, size: 4, name: "general.alignment" });
    p += SZ[type]!;
  };
  for (let i = 0; i < nKv; i++) {
    const keyLen = Number(b.readBigUInt64LE(p));
    const key = b.toString("utf8", p + 8, p + 8 + keyLen);
    str(`key ${key}`);
    f.push({ offset: p, size: 4, name: `type of ${key}` });
    const type = b.readUInt32LE(p);
    p += 4;
    value(type, key, 0);
  }
  for (let i = 0; i < nT; i++) {
    str(`tensor #${i} name`);
    f.push({ offset: p, size: 4, name: `tensor #${i} n_dims` });
    const nd = b.readUInt32LE(p);
    p += 4;
    for (let d = 0; d < nd; d++) { f.push({ offset: p, size: 8, name: `tensor #${i} ne[${d}]` }); p += 8; }
    f.push({ offset: p, size: 4, name: `tensor #${i} type` });
    p += 4;
    f.push({ offset: p, size: 8, name: `tensor #${i} offset` });
    p += 8;
  }
  return f;
}

/** Field map of a legacy imatrix .dat. */
export function datFields(b: Buffer): FieldRef[] {
  const f: FieldRef[] = [{ offset: 0, size: 4, name: "n_entries" }];
  let p = 4;
  const n = b.readInt32LE(0);
  for (let i = 0; i < n; i++) {
    f.push({ offset: p, size: 4, name: `entry ${i} name length` });
    p += 4 + b.readInt32LE(p);
    f.push({ offset: p, size: 4, name: `entry ${i} ncall` });
    f.push({ offset: p + 4, size: 4, name: `entry ${i} nval` });
    p += 8 + 4 * b.readInt32LE(p + 4);
  }
  if (p + 8 <= b.length) {
    f.push({ offset: p, size: 4, name: "last_chunk" });
    f.push({ offset: p + 4, size: 4, name: "dataset name length" });
  }
  return f;
}

/** Seeds per parser, built from the shared fixtures folder. Kept small so each iteration is cheap. */
export function fuzzSeeds(parser: FuzzParser, fixtures: string): FuzzSeed[] {
  const fx = (p: string) => join(fixtures, p);
  switch (parser) {
    case "gguf": {
      // Real metadata (every KV of stories260K: strings, arrays of strings/f32/i32, u32, f32) with
      // a few real tensors of several types (F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K).
      const seeds: FuzzSeed[] = [];
      const picks: [string, string[]][] = [
        ["models/stories260K-Q4_0.gguf", ["output_norm.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight", "output.weight"]],
        ["models/stories260K-Q4_K_M.gguf", ["blk.1.attn_v.weight", "blk.1.attn_q.weight"]],
        ["models/tinyqwen-Q4_K_M.gguf", ["blk.0.attn_k.weight", "blk.0.attn_k_norm.weight"]],
      ];
      for (const [file, names] of picks) {
        const src = new GgufSource(fx(file));
        try {
          const kvs = file.includes("tinyqwen") ? src.kvs().filter((k) => !k.key.startsWith("tokenizer.")) : src.kvs();
          const tensors = names.map((n) => { const t = src.tensor(n); return { name: n, shape: t.shape, type: t.type, data: src.readRaw(n) }; });
          const bytes = encodeGguf(kvs, tensors);
          seeds.push({ name: `${file} (${names.length} tensors)`, bytes, fields: ggufFields(bytes) });
        } finally {
          src.close();
        }
      }
      const nested = encodeGguf([
        { key: "general.alignment", type: GgufValueType.UINT32, value: 64 },
        { key: "test.nested", type: GgufValueType.ARRAY, arrayType: GgufValueType.ARRAY, value: [[1, 2], [3]] },
        { key: "test.bools", type: GgufValueType.ARRAY, arrayType: GgufValueType.BOOL, value: [true, false] },
        { key: "test.u64", type: GgufValueType.UINT64, value: 123 },
        { key: "test.i8", type: GgufValueType.INT8, value: -3 },
        { key: "test.f64", type: GgufValueType.FLOAT64, value: 0.5 },
      ], [{ name: "t", shape: [32, 2], type: "F32", data: new Uint8Array(256).fill(0x3f) }], 64);
      seeds.push({ name: "nested arrays + alignment 64", bytes: nested, fields: ggufFields(nested) });
      // MoE: expert metadata and a small 3-D expert tensor (2 rows of each of moe-tiny's 8 experts).
      const moe = new GgufSource(fx("moe/moe-tiny-f16.gguf"));
      try {
        const kvs = moe.kvs().filter((k) => !k.key.startsWith("tokenizer."));
        const rows = new Uint8Array(8 * 2 * 512);
        for (let e = 0; e < 8; e++) rows.set(moe.readRaw("blk.0.ffn_up_exps.weight", e * 256, 2), e * 2 * 512);
        const bytes = encodeGguf(kvs, [{ name: "blk.0.ffn_up_exps.weight", shape: [256, 2, 8], type: "F16", data: rows }]);
        seeds.push({ name: "moe-tiny metadata + a [256, 2, 8] expert tensor", bytes, fields: ggufFields(bytes) });
      } finally {
        moe.close();
      }
      return seeds;
    }
    case "imatrix": {
      const g = readFileSync(fx("imatrix/imatrix.gguf"));
      const d = readFileSync(fx("imatrix/imatrix.dat"));
      // MoE: per-expert in_sum2 [cols, experts] and counts [1, experts] of one layer, plus a dense entry.
      const src = new GgufSource(fx("moe/moe-tiny-imatrix.gguf"));
      let moe: Buffer;
      try {
        const names = ["blk.1.ffn_up_exps.weight.in_sum2", "blk.1.ffn_up_exps.weight.counts", "blk.1.attn_q.weight.in_sum2", "blk.1.attn_q.weight.counts"];
        moe = encodeGguf(src.kvs(), names.map((n) => { const t = src.tensor(n); return { name: n, shape: t.shape, type: t.type, data: src.readRaw(n) }; }));
      } finally {
        src.close();
      }
      return [{ name: "imatrix.gguf", bytes: g, fields: ggufFields(g) }, { name: "imatrix.dat", bytes: d, fields: datFields(d) }, { name: "moe imatrix (per-expert counts)", bytes: moe, fields: ggufFields(moe) }];
    }
    case "safetensors": {
      const src = new GgufSource(fx("models/tinyqwen-f16.gguf"));
      try {
        const norm = src.read("blk.0.attn_k_norm.weight").data;
        const k = src.readRaw("blk.0.attn_k.weight").subarray(0, 256 * 2 * 4); // 4 rows of F16
        const bytes = encodeSafetensors([
          { name: "model.layers.0.self_attn.k_norm.weight", dtype: "F32", shape: [64], data: new Uint8Array(norm.buffer) },
          { name: "model.layers.0.self_attn.k_proj.weight", dtype: "F16", shape: [4, 256], data: k },
          { name: "model.layers.0.self_attn.q_norm.weight", dtype: "BF16", shape: [2, 32], data: new Uint8Array(128).fill(0x3f) },
        ], { format: "pt" });
        // MoE: three experts of one projection, merged into a 3-D tensor by the reader.
        const experts = encodeSafetensors([0, 1, 2].map((e) => ({
          name: `model.layers.0.mlp.experts.${e}.up_proj.weight`, dtype: "F16" as const, shape: [2, 256], data: k.subarray(e * 512, (e + 2) * 512),
        })));
        return [
          { name: "tinyqwen slice .safetensors", bytes, fields: [{ offset: 0, size: 8, name: "header_size" }] },
          { name: "per-expert MoE .safetensors", bytes: experts, fields: [{ offset: 0, size: 8, name: "header_size" }] },
        ];
      } finally {
        src.close();
      }
    }
    case "npy": {
      const m = readF32Bin(fx("activations/blk_0_attn_k_weight.f32bin"), 0, 4);
      return (["F32", "F16"] as const).map((dt) => {
        const bytes = encodeNpy(m, dt);
        return { name: `npy ${dt}`, bytes, fields: [{ offset: 8, size: 2, name: "header_len" }] };
      });
    }
    case "f32bin": {
      const bytes = encodeF32Bin(readF32Bin(fx("activations/blk_0_attn_k_weight.f32bin"), 0, 8));
      return [{ name: "f32bin 8x64", bytes, fields: [{ offset: 0, size: 8, name: "nrow" }, { offset: 8, size: 8, name: "ncol" }] }];
    }
  }
}

// ------------------------------------------------------------ mutations

const HOSTILE_U64 = [0n, 1n, 2n, 3n, 31n, 32n, 33n, 255n, 256n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 53n) + 1n, 1n << 60n, 0x7fffffffffffffffn, 0xffffffffffffffffn];

function setField(b: Buffer, f: FieldRef, rng: Rng): void {
  if (f.offset + f.size > b.length) return;
  const cur = f.size === 8 ? b.readBigUInt64LE(f.offset) : BigInt(f.size === 4 ? b.readUInt32LE(f.offset) : f.size === 2 ? b.readUInt16LE(f.offset) : b[f.offset]!);
  const choices = [...HOSTILE_U64, cur + 1n, cur - 1n, cur * 2n, cur + 1000n, cur ^ (1n << BigInt(rng.int(f.size * 8))), BigInt(rng.int(0x100000000))];
  const mask = (1n << BigInt(f.size * 8)) - 1n;
  let v = rng.pick(choices) & mask;
  if (v < 0n) v += mask + 1n;
  if (f.size === 8) b.writeBigUInt64LE(v, f.offset);
  else if (f.size === 4) b.writeUInt32LE(Number(v), f.offset);
  else if (f.size === 2) b.writeUInt16LE(Number(v), f.offset);
  else b[f.offset] = Number(v);
}

/** JSON-level mutations of a safetensors header (then re-framed with a correct or wrong size). */
function mutateSafetensorsJson(seed: Buffer, rng: Rng): Buffer {
  const n = Number(seed.readBigUInt64LE(0));
  let json = seed.toString("utf8", 8, 8 + n);
  const data = seed.subarray(8 + n);
  const ops = [
    () => json.replace(/\d+/g, (d) => (rng.int(4) === 0 ? rng.pick(["0", "-1", "18446744073709551615", "9007199254740993", "1e300", "2.5", String(Number(d) * 2 + 1)]) : d)),
    () => json.replace(/"(F32|F16|BF16)"/, `"${rng.pick(["I8", "F64", "U8", "F8_E4M3", "BOOL", "", "f32"])}"`),
    () => json.replace(/"shape":\[[^\]]*\]/, `"shape":${rng.pick(["[]", "[0]", "[1,2,3,4,5]", "[-1,4]", "[1e20,4]", "\"x\"", "[4,4294967296]"])}`),
    () => json.replace(/"data_offsets":\[[^\]]*\]/, `"data_offsets":${rng.pick(["[0]", "[10,5]", "[0,1e30]", "null", "[0,0]", "[-8,0]"])}`),
    () => json.slice(0, rng.int(json.length)),
    () => json.replace("__metadata__", rng.pick(["__metadata_", "x"])).replace(/"format":"pt"/, rng.pick(["\"format\":[1]", "\"format\":{}", "\"format\":null"])),
    () => rng.pick(["[]", "null", "1", "\"s\"", "{\"a\":1}", "{\"a\":{\"dtype\":\"F32\"}}"]),
  ];
  json = rng.pick(ops)();
  const jb = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + jb.length + data.length);
  const size = rng.int(4) === 0 ? BigInt(rng.int(1 << 20)) : BigInt(jb.length);
  out.writeBigUInt64LE(size, 0);
  jb.copy(out, 8);
  data.copy(out, 8 + jb.length);
  return out;
}

function mutateNpyHeader(seed: Buffer, rng: Rng): Buffer {
  const hl = seed.readUInt16LE(8);
  let text = seed.toString("latin1", 10, 10 + hl);
  text = rng.pick([
    () => text.replace(/\(\d+, \d+\)/, rng.pick(["(4294967296, 64)", "()", "(-1, 64)", "(64, 4)", "(9007199254740993,)", "(1, 2, 3, 4, 5)", "(0, 64)", "(4,"])),
    () => text.replace(/'<f[24]'/, rng.pick(["'>f4'", "'<f8'", "'|u1'", "'<i4'", "'<f2'", "'<f4'", "''"])),
    () => text.replace("False", rng.pick(["True", "Fals", "0"])),
    () => text.slice(0, rng.int(text.length)),
  ])();
  const hb = Buffer.from(text, "latin1");
  const data = seed.subarray(10 + hl);
  const out = Buffer.alloc(10 + hb.length + data.length);
  seed.copy(out, 0, 0, 8);
  out.writeUInt16LE(rng.int(5) === 0 ? rng.int(65536) : hb.length, 8);
  hb.copy(out, 10);
  data.copy(out, 10 + hb.length);
  return out;
}

/** One mutant of a seed. */
export function mutate(parser: FuzzParser, seed: FuzzSeed, rng: Rng): { bytes: Buffer; how: string } {
  const b = Buffer.from(seed.bytes);
  const kind = rng.int(10);
  switch (kind) {
    case 0: { // random bytes, half of the time behind the right magic
      const r = Buffer.alloc(rng.int(600));
      for (let i = 0; i < r.length; i++) r[i] = rng.int(256);
      if (rng.int(2) && r.length >= 8) seed.bytes.copy(r, 0, 0, Math.min(8, r.length));
      return { bytes: r, how: "random bytes" };
    }
    case 1: { // truncate
      const n = rng.int(b.length + 1);
      return { bytes: b.subarray(0, n), how: `truncate to ${n}` };
    }
    case 2: case 3: { // bit flips, biased to the header
      const flips = 1 + rng.int(8);
      const span = rng.int(2) ? Math.min(b.length, 4096) : b.length;
      for (let i = 0; i < flips && span > 0; i++) b[rng.int(span)]! ^= 1 << rng.int(8);
      return { bytes: b, how: `${flips} bit flips` };
    }
    case 4: { // splice: insert or delete a few bytes in the header
      const at = rng.int(Math.min(b.length, 4096) + 1);
      if (rng.int(2)) {
        const ins = Buffer.alloc(1 + rng.int(16));
        for (let i = 0; i < ins.length; i++) ins[i] = rng.int(256);
        return { bytes: Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]), how: `insert ${ins.length} at ${at}` };
      }
      const del = 1 + rng.int(16);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + del)]), how: `delete ${del} at ${at}` };
    }
    case 5: { // append junk / inflate
      return { bytes: Buffer.concat([b, Buffer.alloc(1 + rng.int(64), rng.int(256))]), how: "append" };
    }
    default: { // structural field set to a hostile value (or format-aware text mutation)
      if (parser === "safetensors" && rng.int(2)) return { bytes: mutateSafetensorsJson(seed.bytes, rng), how: "json" };
      if (parser === "npy" && rng.int(2)) return { bytes: mutateNpyHeader(seed.bytes, rng), how: "npy header" };
      const n = 1 + rng.int(2);
      const names: string[] = [];
      for (let i = 0; i < n; i++) {
        const f = rng.pick(seed.fields);
        setField(b, f, rng);
        names.push(f.name);
      }
      return { bytes: b, how: `field ${names.join(", ")}` };
    }
  }
}

// ------------------------------------------------------------ exercise

function readSome(src: TensorSource): void {
  moeFacts(src);
  for (const t of src.tensors().slice(0, 6)) {
    src.tensor(t.name);
    if (expertCount(t) > 1 && t.rows > 0 && t.cols > 0 && t.byteSize <= 1 << 20) readExpert(src, t.name, expertCount(t) - 1);
    if (t.rows > 0 && t.cols > 0) {
      src.readRows(t.name, 0, Math.min(t.rows, 2));
      if (t.byteSize <= 1 << 20) src.read(t.name);
    }
  }
}

/** Opens and reads a file with the parser under test. */
export function exercise(parser: FuzzParser, path: string): void {
  switch (parser) {
    case "gguf": { const s = new GgufSource(path); try { readSome(s); } finally { s.close(); } return; }
    case "safetensors": { const s = new SafetensorsSource(path); try { readSome(s); } finally { s.close(); } return; }
    case "npy": { const s = new NpySource(path); try { readSome(s); } finally { s.close(); } return; }
    case "f32bin": { const s = new F32BinSource(path); try { readSome(s); } finally { s.close(); } readF32Bin(path); return; }
    case "imatrix": { const im = readImatrix(path); imatrixStatistics(im); expertTokenGroups(im); return; }
  }
}

export type Outcome = { kind: "ok" } | { kind: "rejected"; message: string } | { kind: "failure"; problem: string };

/** Runs one exercise and classifies the result. */
export function classify(parser: FuzzParser, path: string): Outcome {
  try {
    exercise(parser, path);
    return { kind: "ok" };
  } catch (e) {
    if (!isQuantscopeError(e)) return { kind: "failure", problem: `${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}` };
    const m = e.message;
    if (m.includes("\n")) return { kind: "failure", problem: `multi-line message: ${JSON.stringify(m)}` };
    if (!m.startsWith(path) || e.file !== path) return { kind: "failure", problem: `message does not name the file: ${m}` };
    if (e.offset === undefined || !m.includes(`at byte ${e.offset}`)) return { kind: "failure", problem: `no byte offset: ${m}` };
    if (!e.field) return { kind: "failure", problem: `no field: ${m}` };
    return { kind: "rejected", message: m };
  }
}
