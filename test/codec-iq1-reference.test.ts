// IQ1_S / IQ1_M kernels against a plain TypeScript port of ggml's C
// (test/iq1-reference.ts) on many random inputs: the golden vectors are only
// 8x512, while the kernels' SIMD prefilters, rank sort and neighbour tables
// have paths (ties, zero weights, sign flips, tiny and large scales) that
// deserve more cases. The port shares no code with the kernels.
import { test } from "node:test";
import assert from "node:assert/strict";
import { quantize } from "../src/quant/index.js";
import { diffBlocks } from "./golden.js";
import { referenceIq1M, referenceIq1S } from "./iq1-reference.js";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Case { name: string; x: Float32Array; im: Float32Array; rows: number; cols: number }

function cases(n: number): Case[] {
  const out: Case[] = [];
  for (let c = 0; c < n; c++) {
    const r = lcg(1000 + c);
    const rows = 2, cols = 256 * (1 + (c % 2));
    const kind = c % 5;
    const scale = 10 ** (-6 + 8 * r());
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) {
      const g = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
      x[i] = kind === 0 ? scale * g // gaussian
        : kind === 1 ? scale * (Math.floor(r() * 5) - 2) // 5 levels: many ties, -0 and +0
        : kind === 2 ? (r() < 0.6 ? (r() < 0.5 ? -0 : 0) : scale * g) // mostly zeros
        : kind === 3 ? scale * (g + 3) // one-signed
        : scale * g / Math.max(0.05, Math.abs(Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()))); // heavy tails
    }
    const im = new Float32Array(cols);
    for (let i = 0; i < cols; i++) im[i] = r() < 0.1 ? 0 : Math.exp(2 * (r() - 0.5)) * (r() < 0.01 ? 100 : 1);
    if (c % 3 === 0) im.fill(0, 32, 64); // a whole zero-weight block
    out.push({ name: `case ${c} (kind ${kind}, scale ${scale.toExponential(1)}, ${cols} cols)`, x, im, rows, cols });
  }
  return out;
}

test("IQ1_S == the plain C port on 30 random inputs (imatrix)", () => {
  const bad: string[] = [];
  for (const c of cases(30)) {
    const d = diffBlocks(quantize("IQ1_S", c.x, c.rows, c.cols, c.im), referenceIq1S(c.x, c.rows, c.cols, c.im), 50);
    if (d) bad.push(`${c.name}: ${d}`);
  }
  assert.deepEqual(bad, []);
});

test("IQ1_M == the plain C port on 30 random inputs, with and without imatrix", () => {
  const bad: string[] = [];
  for (const c of cases(30)) {
    for (const im of [undefined, c.im]) {
      const d = diffBlocks(quantize("IQ1_M", c.x, c.rows, c.cols, im), referenceIq1M(c.x, c.rows, c.cols, im), 56);
      if (d) bad.push(`${c.name} ${im ? "imatrix" : "no imatrix"}: ${d}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the C port itself reproduces a golden case of each type (so it is a fair oracle)", async () => {
  const { goldenCases, readGoldenBytes, readGoldenF32 } = await import("./golden.js");
  const s = goldenCases("IQ1_S").find((g) => g.distribution === "student_t3")!;
  assert.equal(diffBlocks(referenceIq1S(readGoldenF32(s.input), s.rows, s.cols, readGoldenF32(s.imatrix!)), readGoldenBytes(s.quantized), 50), undefined);
  const m = goldenCases("IQ1_M").find((g) => g.distribution === "zeros" && !g.imatrix)!;
  assert.equal(diffBlocks(referenceIq1M(readGoldenF32(m.input), m.rows, m.cols), readGoldenBytes(m.quantized), 56), undefined);
});
