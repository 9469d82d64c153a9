// Parity with llama.cpp's test-quantize-stats on stories260K: in flatten mode
// (each tensor quantized as one flat array, no imatrix) the sweep's rmse and
// max |error| match the per-tensor lines, and its exact median / p95 fall in
// the 0.0002-wide histogram buckets the tool reports (whose upper edges it
// prints).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { sweepModel } from "../src/analysis/sweep/sweep.js";
import { histogramQuantile } from "../src/analysis/sweep/stats.js";
import { roundTrip } from "../src/analysis/sweep/sweep.js";

const fx = (p: string) => fileURLToPath(new URL(`../../shared/fixtures/${p}`, import.meta.url));

interface PeerLine { rmse: number; maxerr: number; p95: number; median: number }

function peer(): Map<string, PeerLine> {
  const out = new Map<string, PeerLine>();
  const re = /^(\w+)::(\S+)\s*: rmse ([\d.]+), maxerr ([\d.]+), 95pct<([\d.]+), median<([\d.]+)/;
  for (const line of readFileSync(fx("peer/quantize_stats_per_tensor.txt"), "utf8").split("\n")) {
    const m = re.exec(line);
    if (m) out.set(`${m[1]!.toUpperCase()}::${m[2]}`, { rmse: +m[3]!, maxerr: +m[4]!, p95: +m[5]!, median: +m[6]! });
  }
  return out;
}

const TYPES = ["Q4_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "F16"];

test("flatten-mode sweep of stories260K agrees with quantize-stats per tensor", () => {
  const lines = peer();
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    const res = sweepModel(src, { types: TYPES, flatten: true });
    let checked = 0;
    for (const r of res.records) {
      const p = lines.get(`${r.type}::${r.tensor}`);
      assert.ok(p, `no peer line for ${r.type}::${r.tensor}`);
      assert.ok(!r.skipped, `${r.tensor} ${r.type} skipped: ${r.skipped}`);
      // printed with 8 decimals
      assert.ok(Math.abs(r.rmse - p.rmse) <= 6e-9 + 1e-6 * p.rmse, `${r.type} ${r.tensor} rmse ${r.rmse} vs ${p.rmse}`);
      // the tool subtracts in float32 (one ulp ~ 6e-8 relative) and prints 8 decimals
      assert.ok(Math.abs(r.maxAbsErr - p.maxerr) <= 6e-9 + 6e-8 * p.maxerr, `${r.type} ${r.tensor} maxerr ${r.maxAbsErr} vs ${p.maxerr}`);
      // exact order statistics lie in the reported bucket (upper edge printed); >= 0.03 lands in the last bucket
      for (const [v, edge, what] of [[r.medianAbsErr, p.median, "median"], [r.p95AbsErr, p.p95, "p95"]] as const) {
        if (edge >= 0.03) assert.ok(v >= 0.0298 - 1e-9, `${r.type} ${r.tensor} ${what} ${v} should be in the last bucket`);
        else assert.ok(v <= edge + 1e-9 && v >= edge - 0.0002 - 1e-9, `${r.type} ${r.tensor} ${what} ${v} vs bucket <${edge}`);
      }
      checked++;
    }
    assert.equal(checked, 37 * TYPES.length);
  } finally {
    src.close();
  }
});

test("quantize-stats' own histogram quantiles are reproduced exactly (Q4_K, Q6_K)", () => {
  const lines = peer();
  const src = openSource(fx("models/stories260K.gguf"));
  try {
    for (const type of ["Q4_K", "Q6_K"]) {
      for (const name of ["blk.0.attn_v.weight", "blk.3.ffn_down.weight", "token_embd.weight"]) {
        const W = src.read(name);
        const deq = roundTrip(type, W.data, 1, W.data.length);
        const p = lines.get(`${type}::${name}`)!;
        const diff = W.data.map((x, i) => x - deq[i]!);
        assert.equal(histogramQuantile(diff, 0.5).toFixed(4), p.median.toFixed(4), `${type} ${name} median`);
        assert.equal(histogramQuantile(diff, 0.95).toFixed(4), p.p95.toFixed(4), `${type} ${name} p95`);
      }
    }
  } finally {
    src.close();
  }
});
