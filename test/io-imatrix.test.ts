// imatrix readers (GGUF and legacy .dat) against each other, against the
// real activations they were collected from, and the --show-statistics
// table against llama-imatrix's own output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readImatrix } from "../src/io/source.js";
import { readF32Bin } from "../src/io/f32bin.js";
import { imatrixStatistics } from "../src/analysis/imatrix/stats.js";
import { formatImatrixStatistics, cFixed } from "../src/report/inspect-text.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

for (const dir of ["imatrix", "tinyqwen"]) {
  test(`${dir}: imatrix.gguf and imatrix.dat give identical values for every entry`, () => {
    const g = readImatrix(fx(`${dir}/imatrix.gguf`));
    const d = readImatrix(fx(`${dir}/imatrix.dat`));
    assert.equal(g.format, "gguf");
    assert.equal(d.format, "dat");
    assert.deepEqual([...g.entries.keys()].sort(), [...d.entries.keys()].sort());
    assert.equal(g.entries.size, dir === "imatrix" ? 35 : 42);
    for (const [name, e] of g.entries) {
      const other = d.entries.get(name)!;
      assert.equal(e.values.length, other.values.length, name);
      for (let i = 0; i < e.values.length; i++) if (!Object.is(e.values[i], other.values[i])) assert.fail(`${name}[${i}]: ${e.values[i]} vs ${other.values[i]}`);
    }
    assert.deepEqual(g.datasets, ["calibration.txt"]);
    assert.deepEqual(d.datasets, ["calibration.txt"]);
    assert.equal(g.chunkCount, dir === "imatrix" ? 116 : 469);
    assert.equal(d.chunkCount, g.chunkCount);
    assert.equal(g.chunkSize, dir === "imatrix" ? 128 : 256);
    const tokens = dir === "imatrix" ? 14848 : 120064;
    for (const e of g.entries.values()) assert.equal(e.count, tokens);
  });
}

test("stories260K block 0: imatrix values = per-column mean of squared activations (1e-4 relative)", () => {
  const im = readImatrix(fx("imatrix/imatrix.gguf"));
  const feeds: Record<string, string[]> = {
    attn_input: ["attn_q", "attn_k", "attn_v"], attn_output_input: ["attn_output"], ffn_input: ["ffn_gate", "ffn_up"], ffn_down_input: ["ffn_down"],
  };
  let checked = 0;
  for (const [act, weights] of Object.entries(feeds)) {
    const a = readF32Bin(fx(`activations/act_blk0_${act}.f32bin`));
    assert.equal(a.rows, 14848);
    const mean = new Float64Array(a.cols);
    for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) mean[c] += a.data[r * a.cols + c]! ** 2;
    for (let c = 0; c < a.cols; c++) mean[c] /= a.rows;
    for (const w of weights) {
      const e = im.entries.get(`blk.0.${w}.weight`)!;
      assert.equal(e.values.length, a.cols);
      for (let c = 0; c < a.cols; c++) {
        const rel = Math.abs(e.values[c]! - mean[c]!) / mean[c]!;
        assert.ok(rel < 1e-4, `blk.0.${w}.weight column ${c}: ${e.values[c]} vs ${mean[c]} (rel ${rel})`);
      }
      checked++;
    }
  }
  assert.equal(checked, 7);
});

for (const [dir, label] of [["imatrix", "../imatrix/imatrix.gguf"], ["tinyqwen", "imatrix.gguf"]] as const) {
  for (const ext of ["gguf", "dat"]) {
    test(`${dir}/imatrix.${ext}: statistics text equals llama-imatrix --show-statistics (imatrix_statistics.txt) byte for byte`, () => {
      const text = formatImatrixStatistics(imatrixStatistics(readImatrix(fx(`${dir}/imatrix.${ext}`))), label);
      const ref = readFileSync(fx(`${dir}/imatrix_statistics.txt`), "utf8");
      const a = text.split("\n");
      const b = ref.split("\n");
      for (let i = 0; i < Math.max(a.length, b.length); i++) assert.equal(a[i], b[i], `line ${i + 1}`);
    });
  }
}

test("cFixed rounds exact ties to even like C printf, everything else like toFixed", () => {
  assert.equal(cFixed(0.125, 2), "0.12");
  assert.equal(cFixed(0.375, 2), "0.38");
  assert.equal(cFixed(2.5, 0), "2");
  assert.equal(cFixed(-0.125, 2), "-0.12");
  assert.equal(cFixed(0.1, 2), "0.10");
  assert.equal(cFixed(1.005, 2), (1.005).toFixed(2)); // 1.005 is below the tie in binary
  assert.equal(cFixed(99.995, 2), (99.995).toFixed(2));
});
