// Malformed input: property-based (fast-check) and mutation fuzzing of every
// parser, plus hand-made hostile files for the fields the issue names. The
// only acceptable outcome is success or a QuantscopeError whose one-line
// message names the file, the field and the byte offset.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { classify, FUZZ_PARSERS, fuzzSeeds, mutate, Rng, ggufFields, type FuzzParser, type FieldRef } from "../src/io/fuzz.js";
import { isQuantscopeError } from "../src/io/errors.js";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/imatrix.js";
import { SafetensorsSource } from "../src/io/safetensors.js";
import { NpySource } from "../src/io/npy.js";

const fixtures = fileURLToPath(new URL("../../shared/fixtures", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "qs-fuzz-test-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function assertAcceptable(parser: FuzzParser, bytes: Uint8Array, note: string): void {
  const path = join(tmp, `${parser}-case${parser === "npy" ? ".npy" : ""}`);
  writeFileSync(path, bytes);
  const out = classify(parser, path);
  if (out.kind === "failure") assert.fail(`${parser} (${note}): ${out.problem}`);
}

for (const parser of FUZZ_PARSERS) {
  const seeds = fuzzSeeds(parser, fixtures);

  test(`${parser}: seeds parse cleanly (so mutants start from valid files)`, () => {
    for (const s of seeds) {
      const path = join(tmp, `${parser}-seed${parser === "npy" ? ".npy" : ""}`);
      writeFileSync(path, s.bytes);
      assert.equal(classify(parser, path).kind, "ok", s.name);
    }
  });

  test(`${parser}: random bytes (fast-check) never crash the reader`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), fc.boolean(), (bytes, withMagic) => {
      const b = Buffer.from(bytes);
      if (withMagic) seeds[0]!.bytes.copy(b, 0, 0, Math.min(b.length, 12));
      assertAcceptable(parser, b, "random");
    }), { numRuns: 150, seed: 42 });
  });

  test(`${parser}: structural fields set to arbitrary values (fast-check) are rejected cleanly`, () => {
    const withFields = seeds.filter((s) => s.fields.length > 0);
    fc.assert(fc.property(
      fc.nat({ max: withFields.length - 1 }), fc.nat(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      (si, fi, value) => {
        const seed = withFields[si]!;
        const f: FieldRef = seed.fields[fi % seed.fields.length]!;
        const b = Buffer.from(seed.bytes);
        const v = value & ((1n << BigInt(f.size * 8)) - 1n);
        if (f.size === 8) b.writeBigUInt64LE(v, f.offset);
        else if (f.size === 4) b.writeUInt32LE(Number(v), f.offset);
        else if (f.size === 2) b.writeUInt16LE(Number(v), f.offset);
        else b[f.offset] = Number(v);
        assertAcceptable(parser, b, `${seed.name}: ${f.name} = ${v}`);
      },
    ), { numRuns: 200, seed: 7 });
  });

  test(`${parser}: 400 mutants (flips, truncation, splices, hostile field values) are rejected cleanly`, () => {
    for (let i = 0; i < 400; i++) {
      const rng = new Rng(0xc0ffee + i);
      const seed = seeds[i % seeds.length]!;
      const { bytes, how } = mutate(parser, seed, rng);
      assertAcceptable(parser, bytes, `${seed.name}: ${how} (rng ${0xc0ffee + i})`);
    }
  });
}

/** Opens a GGUF built from the imatrix fixture with one field overwritten; returns the error. */
function ggufWith(field: (f: FieldRef) => boolean, value: bigint): { err: unknown; path: string; at: number } {
  const orig = readFileSync(join(fixtures, "imatrix/imatrix.gguf"));
  const f = ggufFields(orig).find(field);
  assert.ok(f, "field exists");
  const b = Buffer.from(orig);
  if (f.size === 8) b.writeBigUInt64LE(value, f.offset);
  else b.writeUInt32LE(Number(value), f.offset);
  const path = join(tmp, "hostile.gguf");
  writeFileSync(path, b);
  try {
    new GgufSource(path).close();
    return { err: undefined, path, at: f.offset };
  } catch (e) {
    return { err: e, path, at: f.offset };
  }
}

function expectFieldError(r: { err: unknown; path: string; at: number }, field: RegExp, problem: RegExp): void {
  assert.ok(isQuantscopeError(r.err), `expected a QuantscopeError, got ${String(r.err)}`);
  assert.equal(r.err.file, r.path);
  assert.match(r.err.message, new RegExp(`^${r.path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: `));
  assert.match(r.err.field ?? "", field);
  assert.match(r.err.message, problem);
  assert.ok(!r.err.message.includes("\n"));
}

test("GGUF hostile fields: each names the field and its byte offset", () => {
  // a metadata array claiming 2^60 elements
  let r = ggufWith((f) => f.name === "imatrix.datasets array length", 1n << 60n);
  expectFieldError(r, /^array "imatrix\.datasets" length$/, new RegExp(`at byte ${r.at}: 1152921504606846976 elements cannot fit`));
  r = ggufWith((f) => f.name === "key general.type length", (1n << 64n) - 1n);
  expectFieldError(r, /^metadata key #0 length$/, /at byte 24: string length 18446744073709551615 exceeds/);
  r = ggufWith((f) => f.name === "tensor_count", 1n << 40n);
  expectFieldError(r, /^tensor_count$/, /at byte 8: tensor_count 1099511627776 cannot fit/);
  r = ggufWith((f) => f.name === "kv_count", 0xffffffffn);
  expectFieldError(r, /^kv_count$/, /at byte 16/);
  r = ggufWith((f) => f.name === "tensor #0 n_dims", 5n);
  expectFieldError(r, /^tensor "blk\.0\.attn_k\.weight\.in_sum2" n_dims$/, /n_dims 5 is outside 1\.\.4/);
  r = ggufWith((f) => f.name === "tensor #0 ne[0]", 1n << 62n);
  expectFieldError(r, /ne\[0\]$/, /makes the element count overflow/);
  r = ggufWith((f) => f.name === "tensor #0 ne[0]", 1n << 20n);
  expectFieldError(r, /offset$/, /runs past the end of the file/);
  r = ggufWith((f) => f.name === "tensor #3 offset", 1n << 33n);
  expectFieldError(r, /^tensor "blk\.0\.attn_output\.weight\.counts" offset$/, /runs past the end of the file/);
  r = ggufWith((f) => f.name === "tensor #3 offset", 3n);
  expectFieldError(r, /offset$/, /not a multiple of the alignment 32/);
  r = ggufWith((f) => f.name === "tensor #0 type", 99n);
  expectFieldError(r, /type$/, /unknown ggml type id 99/);
  r = ggufWith((f) => f.name === "type of general.type", 13n);
  expectFieldError(r, /^type of "general\.type"$/, /unknown value type 13/);
});

test("GGUF alignment: zero or non-power-of-two general.alignment is refused", () => {
  const seed = fuzzSeeds("gguf", fixtures).find((s) => s.name.includes("alignment 64"))!;
  const f = seed.fields.find((x) => x.name === "general.alignment")!;
  for (const v of [0, 3, 48]) {
    const b = Buffer.from(seed.bytes);
    b.writeUInt32LE(v, f.offset);
    const path = join(tmp, "align.gguf");
    writeFileSync(path, b);
    assert.throws(() => new GgufSource(path), (e: unknown) => isQuantscopeError(e) && e.field === "general.alignment" && /power-of-two/.test(e.message) && e.message.includes(`at byte`));
  }
});

test("safetensors / npy / imatrix .dat hostile headers name the field and offset", () => {
  const st = fuzzSeeds("safetensors", fixtures)[0]!.bytes;
  const big = Buffer.from(st);
  big.writeBigUInt64LE(1n << 62n, 0);
  writeFileSync(join(tmp, "h.safetensors"), big);
  assert.throws(() => new SafetensorsSource(join(tmp, "h.safetensors")), /h\.safetensors: header_size at byte 0: JSON header size 4611686018427387904 is outside/);
  const bad = Buffer.from(st);
  bad.write("!", 8);
  writeFileSync(join(tmp, "j.safetensors"), bad);
  assert.throws(() => new SafetensorsSource(join(tmp, "j.safetensors")), /j\.safetensors: header at byte 8: JSON header does not parse/);

  const npy = Buffer.from(fuzzSeeds("npy", fixtures)[0]!.bytes);
  npy.writeUInt16LE(65535, 8);
  writeFileSync(join(tmp, "h.npy"), npy);
  assert.throws(() => new NpySource(join(tmp, "h.npy")), /h\.npy: header_len at byte 8: header length 65535 exceeds/);

  const dat = Buffer.from(readFileSync(join(fixtures, "imatrix/imatrix.dat")));
  dat.writeInt32LE(0x7fffffff, 0);
  writeFileSync(join(tmp, "h.dat"), dat);
  assert.throws(() => readImatrix(join(tmp, "h.dat")), /h\.dat: n_entries at byte 0: n_entries 2147483647 is not a positive count that fits/);
  const dat2 = Buffer.from(readFileSync(join(fixtures, "imatrix/imatrix.dat")));
  const nvalAt = 4 + 4 + dat2.readInt32LE(4) + 4;
  dat2.writeInt32LE(0x40000000, nvalAt);
  writeFileSync(join(tmp, "n.dat"), dat2);
  assert.throws(() => readImatrix(join(tmp, "n.dat")), new RegExp(`n\\.dat: entry "blk\\.0\\.attn_k\\.weight" nval at byte ${nvalAt}: nval 1073741824 is not a positive count`));
});

test("regression (found by the fuzzer): an imatrix GGUF whose tensor_count is 0 is rejected at tensor_count", () => {
  const b = Buffer.from(readFileSync(join(fixtures, "imatrix/imatrix.gguf")));
  b.writeBigUInt64LE(0n, 8);
  const path = join(tmp, "no-tensors.gguf");
  writeFileSync(path, b);
  assert.throws(() => readImatrix(path), (e: unknown) => isQuantscopeError(e) && e.field === "tensor_count" && e.offset === 8 && /no-tensors\.gguf: tensor_count at byte 8: not an imatrix: none of its 0 tensors/.test(e.message));
  assert.equal(classify("imatrix", path).kind, "rejected");
});
