// Quantized GGUF files through the reader: dequantized values checked against
// a small independent Q8_0 / Q4_0 decoder written here from the block layout,
// and each quantized tensor re-quantizes to the bytes in the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { GgufSource } from "../src/io/gguf.js";
import { quantize, supportedTypes } from "../src/quant/index.js";
import { halfToFloat } from "../src/ggml/float-convert.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

/** Block layouts (facts of the format): Q8_0 = f16 d + 32 int8; Q4_0 = f16 d + 16 bytes, low nibbles are elements 0..15. */
function referenceDequant(type: string, raw: Uint8Array): Float32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const bs = type === "Q8_0" ? 34 : 18;
  const out = new Float32Array((raw.length / bs) * 32);
  for (let b = 0; b < raw.length / bs; b++) {
    const d = halfToFloat(dv.getUint16(b * bs, true));
    for (let j = 0; j < 32; j++) {
      if (type === "Q8_0") out[b * 32 + j] = d * dv.getInt8(b * bs + 2 + j);
      else {
        const byte = raw[b * bs + 2 + (j % 16)]!;
        out[b * 32 + j] = d * ((j < 16 ? byte & 15 : byte >> 4) - 8);
      }
    }
  }
  return out;
}

for (const file of ["stories260K-Q8_0", "stories260K-Q4_0"]) {
  test(`${file}.gguf: Q8_0/Q4_0 tensors read as an independent block decoder computes them`, () => {
    const src = new GgufSource(fx(`models/${file}.gguf`));
    try {
      let n = 0;
      for (const t of src.tensors()) {
        if (t.type !== "Q8_0" && t.type !== "Q4_0") continue;
        const exp = referenceDequant(t.type, src.readRaw(t.name));
        const got = src.read(t.name).data;
        assert.equal(got.length, exp.length);
        for (let i = 0; i < got.length; i++) if (!Object.is(got[i], exp[i])) assert.fail(`${t.name}[${i}]: ${got[i]} vs ${exp[i]}`);
        n++;
      }
      assert.ok(n >= 30, `${n} tensors checked`);
    } finally {
      src.close();
    }
  });
}

for (const file of ["stories260K-Q8_0", "stories260K-Q4_0", "stories260K-Q4_K_M"]) {
  test(`${file}.gguf: every quantized tensor dequantizes and re-quantizes to the same bytes`, (t) => {
    const src = new GgufSource(fx(`models/${file}.gguf`));
    const supported = new Set(supportedTypes());
    const perType: Record<string, number> = {};
    try {
      for (const info of src.tensors()) {
        if (info.type === "F32") continue;
        if (!supported.has(info.type)) {
          t.diagnostic(`skipped ${info.name}: no codec for ${info.type} yet`);
          continue;
        }
        const raw = src.readRaw(info.name);
        const m = src.read(info.name);
        const again = quantize(info.type, m.data, m.rows, m.cols);
        assert.ok(Buffer.from(again).equals(Buffer.from(raw)), `${info.name} (${info.type}) re-quantizes differently`);
        perType[info.type] = (perType[info.type] ?? 0) + 1;
      }
    } finally {
      src.close();
    }
    t.diagnostic(JSON.stringify(perType));
    assert.ok(Object.keys(perType).length >= 2);
  });
}

// A K-quant decoded with the wrong layout (nibble order, scale packing) lands
// at relative RMSE ~1; a correct one sits near 2^-bits of the F16 weights the
// file was quantized from (tinyqwen's Q files come from its F32 master, F16 is
// within 2^-11 of it). Bounds: roughly 2x the bit-width expectation.
const REL_RMSE_BOUND: Record<string, number> = { Q6_K: 0.03, Q4_K: 0.1, Q3_K: 0.2, Q2_K: 0.4 };

test("tinyqwen-Q4_K_M / Q2_K: K-quant tensors (Q2_K..Q6_K) decode close to the F16 weights", () => {
  const f16 = new GgufSource(fx("models/tinyqwen-f16.gguf"));
  try {
    for (const file of ["tinyqwen-Q4_K_M", "tinyqwen-Q2_K"]) {
      const src = new GgufSource(fx(`models/${file}.gguf`));
      try {
        for (const info of src.tensors()) {
          if (info.type === "F32") continue;
          const a = src.read(info.name).data;
          const b = f16.read(info.name).data;
          assert.equal(a.length, b.length);
          let e = 0, s = 0;
          for (let i = 0; i < a.length; i++) { e += (a[i]! - b[i]!) ** 2; s += b[i]! ** 2; }
          const rel = Math.sqrt(e / s);
          const bound = REL_RMSE_BOUND[info.type];
          assert.ok(bound !== undefined, `${file}: unexpected type ${info.type}`);
          assert.ok(rel < bound, `${file} ${info.name} (${info.type}): relative RMSE ${rel} >= ${bound}`);
        }
      } finally {
        src.close();
      }
    }
  } finally {
    f16.close();
  }
});
