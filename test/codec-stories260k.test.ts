// Cross-check on real files: quantizing the F32 tensors of stories260K.gguf
// reproduces the bytes llama-quantize stored in its Q8_0, Q4_0, Q4_K_M and
// Q4_K_M-imatrix outputs, for every tensor whose type has a codec here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../src/io/source.js";
import { quantize, supportedTypes } from "../src/quant/index.js";

const M = (f: string) => fileURLToPath(new URL(`../../shared/fixtures/models/${f}`, import.meta.url));
const IMATRIX = fileURLToPath(new URL("../../shared/fixtures/imatrix/imatrix.gguf", import.meta.url));

const cases: [string, boolean][] = [
  ["stories260K-Q8_0.gguf", false],
  ["stories260K-Q4_0.gguf", false],
  ["stories260K-Q4_K_M.gguf", false],
  ["stories260K-Q4_K_M-imatrix.gguf", true],
];

for (const [file, useImatrix] of cases) {
  test(`stories260K: ${file} tensors are reproduced byte for byte`, () => {
    const f32 = openSource(M("stories260K.gguf"));
    const q = openSource(M(file));
    const im = useImatrix ? readImatrix(IMATRIX) : undefined;
    const supported = new Set(supportedTypes());
    const checked: Record<string, number> = {};
    try {
      for (const t of q.tensors()) {
        if (t.type === "F32" || !supported.has(t.type)) continue;
        const x = f32.read(t.name);
        const w = im?.entries.get(t.name)?.values;
        const got = quantize(t.type, x.data, x.rows, x.cols, w);
        const want = q.readRaw!(t.name);
        assert.equal(got.length, want.length, t.name);
        assert.ok(Buffer.from(got).equals(Buffer.from(want)), `${t.name} (${t.type}${w ? ", imatrix" : ""}) differs`);
        const key = w ? `${t.type}+imatrix` : t.type;
        checked[key] = (checked[key] ?? 0) + 1;
      }
    } finally {
      f32.close();
      q.close();
    }
    // every non-F32 tensor of these files has a type with a codec (Q8_0, Q4_0, Q5_0, F16)
    assert.ok(Object.values(checked).reduce((a, b) => a + b, 0) >= 37, JSON.stringify(checked));
    if (useImatrix) assert.ok((checked["Q5_0+imatrix"] ?? 0) >= 20, `imatrix path exercised: ${JSON.stringify(checked)}`);
  });
}
