// Property tests over every registered codec (fast-check): random shapes that
// are multiples of the block, random scales from tiny to large, zeros.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dequantize, dequantizeInto, quantize, quantizeInto, supportedTypes, typeInfo } from "../src/quant/index.js";

const TYPES = supportedTypes();

/**
 * Per-type bound on |x - dequant(quant(x))| without an imatrix, as a multiple
 * of the block's max |x| (F16/BF16: of |x| itself, plus half the smallest
 * subnormal). With an imatrix, zero weights make any level legal, so no bound.
 */
const ERROR_BOUND: Record<string, number> = {
  F16: 2 ** -11, BF16: 2 ** -8,
  Q8_0: 0.6 / 127, Q4_0: 1.05 / 8, Q4_1: 1.05 * 2 / 15, Q5_0: 1.05 / 16, Q5_1: 1.05 * 2 / 31,
  IQ4_NL: 0.25, IQ4_XS: 0.25, MXFP4: 0.25,
  // ternary: half a step, and the fp16 scale may round up by 2^-11
  TQ1_0: 0.5 * (1 + 2 ** -10), TQ2_0: 0.5 * (1 + 2 ** -10),
};

interface Case {
  rows: number;
  cols: number;
  x: Float32Array;
  imatrix: Float32Array;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** rows x cols with a given magnitude, some exact zeros, some zero blocks, one outlier per row. */
function caseArb(type: string, minLog: number, maxLog: number): fc.Arbitrary<Case> {
  const info = typeInfo(type);
  const unit = Math.max(info.blockSize, 32);
  return fc
    .record({
      rows: fc.integer({ min: 1, max: 3 }),
      nb: fc.integer({ min: 1, max: info.blockSize >= 256 ? 2 : 6 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      logScale: fc.double({ min: minLog, max: maxLog, noNaN: true }),
      zeroFrac: fc.constantFrom(0, 0.1, 0.5),
      zeroBlock: fc.boolean(),
    })
    .map(({ rows, nb, seed, logScale, zeroFrac, zeroBlock }) => {
      const cols = nb * unit;
      const r = lcg(seed);
      const scale = 10 ** logScale;
      const x = new Float32Array(rows * cols);
      for (let i = 0; i < x.length; i++) x[i] = r() < zeroFrac ? 0 : (r() - 0.5) * 2 * scale * (r() < 0.02 ? 8 : 1);
      if (zeroBlock) x.fill(0, 0, Math.min(32, cols));
      const imatrix = new Float32Array(cols);
      for (let i = 0; i < cols; i++) imatrix[i] = r() < 0.05 ? 0 : Math.exp(3 * (r() - 0.5));
      return { rows, cols, x, imatrix };
    });
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

for (const type of TYPES) {
  const info = typeInfo(type);
  const imOptions = info.imatrix === "required" ? [true] : [false, true];

  test(`${type}: round trip has the right sizes, is finite, deterministic, and row-split == whole`, () => {
    fc.assert(
      fc.property(caseArb(type, -30, 3), fc.constantFrom(...imOptions), (c, useIm) => {
        const im = useIm ? c.imatrix : undefined;
        const q = quantize(type, c.x, c.rows, c.cols, im);
        assert.equal(q.length, c.rows * (c.cols / info.blockSize) * info.typeSize);
        assert.ok(same(q, quantize(type, c.x, c.rows, c.cols, im)), "quantize is not deterministic");
        const y = dequantize(type, q, c.rows, c.cols);
        assert.equal(y.length, c.rows * c.cols);
        for (let i = 0; i < y.length; i++) assert.ok(Number.isFinite(y[i]), `non-finite output at ${i}`);
        // rows are independent: quantizing the first row alone gives the first row's bytes
        const rb = q.length / c.rows;
        assert.ok(same(quantize(type, c.x.subarray(0, c.cols), 1, c.cols, im), q.subarray(0, rb)), "row 0 alone differs");
        const qi = quantizeInto(type, c.x, c.rows, c.cols, new Uint8Array(q.length), im);
        assert.ok(same(qi, q), "quantizeInto differs");
        const yi = dequantizeInto(type, q, c.rows, c.cols, new Float32Array(y.length));
        assert.ok(same(new Uint8Array(yi.buffer), new Uint8Array(y.buffer)), "dequantizeInto differs");
      }),
      { numRuns: 40 },
    );
  });

  test(`${type}: all-zero input dequantizes to zeros`, () => {
    for (const cols of [Math.max(info.blockSize, 64), 512]) {
      const x = new Float32Array(2 * cols);
      for (const im of imOptions) {
        const y = dequantize(type, quantize(type, x, 2, cols, im ? new Float32Array(cols).fill(1) : undefined), 2, cols);
        assert.ok(y.every((v) => v === 0), `${type} zeros -> ${y.find((v) => v !== 0)}`);
      }
    }
  });

  const bound = ERROR_BOUND[type];
  if (bound !== undefined) {
    test(`${type}: error <= ${bound.toPrecision(3)} x block max |x| (no imatrix; scales where the fp16 scale is normal)`, () => {
      const bs = Math.max(info.blockSize, 32);
      fc.assert(
        fc.property(caseArb(type, -1.5, 3), (c) => {
          const y = dequantize(type, quantize(type, c.x, c.rows, c.cols), c.rows, c.cols);
          for (let b = 0; b < c.x.length; b += bs) {
            let amax = 0;
            for (let j = b; j < b + bs; j++) amax = Math.max(amax, Math.abs(c.x[j]!));
            for (let j = b; j < b + bs; j++) {
              const err = Math.abs(c.x[j]! - y[j]!);
              // F16/BF16 are per-element: bound relative to the element itself
              const limit = info.blockSize === 1 ? bound * Math.abs(c.x[j]!) + 2 ** -25 : bound * amax;
              assert.ok(err <= limit, `${type}: |${c.x[j]} - ${y[j]}| = ${err} > ${limit}`);
            }
          }
        }),
        { numRuns: 40, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}) },
      );
    });
  }
}

test("chunked quantization (more rows than one WASM chunk) equals row-by-row", () => {
  const rows = 40;
  const cols = 2048; // 81920 floats: more than one 65536-float chunk
  const r = lcg(5);
  const x = new Float32Array(rows * cols).map(() => (r() - 0.5) * 0.1);
  const w = new Float32Array(cols).map(() => r() + 0.1);
  for (const type of TYPES) {
    const whole = quantize(type, x, rows, cols, w);
    const rb = whole.length / rows;
    for (const row of [0, 19, 31, 32, 39]) {
      const one = quantize(type, x.subarray(row * cols, (row + 1) * cols), 1, cols, w);
      assert.ok(same(one, whole.subarray(row * rb, (row + 1) * rb)), `${type} row ${row}`);
    }
    const y = dequantize(type, whole, rows, cols);
    const y39 = dequantize(type, whole.subarray(39 * rb), 1, cols);
    assert.ok(same(new Uint8Array(y.buffer, 39 * cols * 4), new Uint8Array(y39.buffer)), `${type} dequant row 39`);
  }
});

test("NaN/Inf policy: block types reject with row and column; F16/BF16 convert like ggml", () => {
  const x = new Float32Array(2 * 256).fill(0.5);
  x[256 + 70] = NaN;
  for (const type of TYPES) {
    if (type === "F16" || type === "BF16") continue;
    // types that require an imatrix get one (all ones), or they stop at that check first
    const im = typeInfo(type).imatrix === "required" ? new Float32Array(256).fill(1) : undefined;
    assert.throws(() => quantize(type, x, 2, 256, im), new RegExp(`^Error: ${type}: input has NaN at row 1, column 70|${type}: input has NaN at row 1, column 70`));
  }
  const h = dequantize("F16", quantize("F16", new Float32Array([NaN, Infinity, -Infinity, 70000]), 1, 4), 1, 4);
  assert.ok(Number.isNaN(h[0]) && h[1] === Infinity && h[2] === -Infinity && h[3] === Infinity);
  // ggml's fp16 NaN is sign|0x7E00, on the 8-wide SIMD path and the scalar tail alike
  const nans = new Float32Array(9);
  new Uint32Array(nans.buffer).set([0x7fc00000, 0xffc00001, 0x7f800001, 0, 0, 0, 0, 0, 0xff812345]);
  const hb = new Uint16Array(quantize("F16", nans, 1, 9).buffer);
  assert.deepEqual([hb[0], hb[1], hb[2], hb[8]], [0x7e00, 0xfe00, 0x7e00, 0xfe00]);
  const b = dequantize("BF16", quantize("BF16", new Float32Array([NaN, -Infinity]), 1, 2), 1, 2);
  assert.ok(Number.isNaN(b[0]) && b[1] === -Infinity);
  assert.throws(() => quantize("Q4_0", new Float32Array(32), 1, 32, new Float32Array(32).fill(NaN)), /imatrix value NaN at column 0/);
});
