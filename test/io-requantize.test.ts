// Issue-3 cross-check through the readers: quantizing the F32 tensors of
// stories260K.gguf with quantscope reproduces, byte for byte, what
// llama-quantize wrote into the quantized files (with the imatrix for the
// -imatrix file), for every tensor whose stored type quantscope can quantize.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { GgufSource } from "../src/io/gguf.js";
import { readImatrix } from "../src/io/source.js";
import { quantize, supportedTypes } from "../src/quant/index.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

for (const [file, withImatrix] of [["stories260K-Q8_0", false], ["stories260K-Q4_0", false], ["stories260K-Q4_K_M", false], ["stories260K-Q4_K_M-imatrix", true]] as const) {
  test(`${file}.gguf: re-quantizing stories260K.gguf's F32 tensors reproduces every quantized tensor`, (t) => {
    const ref = new GgufSource(fx("models/stories260K.gguf"));
    const q = new GgufSource(fx(`models/${file}.gguf`));
    const im = withImatrix ? readImatrix(fx("imatrix/imatrix.gguf")) : undefined;
    const supported = new Set(supportedTypes());
    const checked: Record<string, number> = {};
    const skipped: string[] = [];
    try {
      assert.deepEqual(q.tensors().map((x) => x.name).sort(), ref.tensors().map((x) => x.name).sort());
      for (const info of q.tensors()) {
        if (info.type === "F32") continue; // stored unquantized: nothing to reproduce
        if (!supported.has(info.type)) {
          skipped.push(`${info.name} (${info.type})`);
          continue;
        }
        const orig = ref.read(info.name);
        // llama-quantize uses the imatrix entry of the tensor when there is one (not for token_embd/output).
        const imv = im?.entries.get(info.name)?.values;
        const mine = quantize(info.type, orig.data, orig.rows, orig.cols, imv);
        const theirs = q.readRaw(info.name);
        assert.equal(mine.length, theirs.length, `${info.name}: byte count`);
        const diff = mine.findIndex((b, i) => b !== theirs[i]);
        assert.equal(diff, -1, `${info.name} (${info.type}${imv ? ", imatrix" : ""}): first differing byte at ${diff}`);
        checked[info.type] = (checked[info.type] ?? 0) + 1;
      }
    } finally {
      ref.close();
      q.close();
    }
    t.diagnostic(`checked ${JSON.stringify(checked)}${skipped.length ? `; no codec for ${skipped.join(", ")}` : ""}`);
    assert.ok(Object.values(checked).reduce((a, b) => a + b, 0) >= 30, "most tensors of the file were checked");
    if (withImatrix) assert.ok(im && im.entries.size === 35);
  });
}
