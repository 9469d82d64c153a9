// Validation of the calibration-based predicted KL (docs/sensitivity.md):
// for each model, calibrate on chunks spread over its calibration text after
// the first 512 tokens,
// measure the single-tensor KL of every matrix (token_embd and output
// included) at Q2_K..Q6_K with the reference forward pass on tokens the
// calibration did not see, and score the predictions: Spearman overall and
// within each type, median |log10(pred/measured)|. Nothing is fitted.
// Methods compared: calib (Fisher-diagonal marginals, the default), calib
// with the position-independent factorization ("diagonal"), and the gain
// table on the imatrix estimate, scaled to the model (gains fitted on
// stories260K and tinyqwen, the scale constant on those and two random qwen3
// including rand-qwen3: not held out for any of them).
//   node --import tsx scripts/validate/calib.ts [--chunks N] [--only NAME]
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../../src/io/source.js";
import { loadForwardModel } from "../../src/model/forward/model.js";
import { prepareKl } from "../../src/model/forward/kl.js";
import { readTokens } from "../../src/model/forward/tokens.js";
import { sweepModel } from "../../src/analysis/sweep/sweep.js";
import type { SweepRecord } from "../../src/analysis/sweep/types.js";
import { readTextFile, tokenizerOf } from "../../src/model/tokenizer/index.js";
import { calibratePaths } from "../../src/model/calibrate/parallel.js";
import { encodeCalibGguf, readCalib } from "../../src/model/calibrate/calib-file.js";

const FX = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];
const arg = (k: string) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
const CHUNKS = Number(arg("--chunks") ?? 16);
const dir = mkdtempSync(join(tmpdir(), "qs-validate-calib-"));

interface Case { name: string; model: string; text: string; ctx: number; klTokens?: string }
const third = join(dir, "rand-qwen3.gguf");
const cases: Case[] = [
  { name: "stories260K", model: FX + "models/stories260K.gguf", text: FX + "models/calibration.txt", ctx: 128, klTokens: FX + "activations/tokens_ctx128.i32" },
  { name: "tinyqwen", model: FX + "models/tinyqwen-f16.gguf", text: FX + "tinyqwen/calibration.txt", ctx: 256, klTokens: FX + "tinyqwen/activation_tokens_ctx256.i32" },
  { name: "rand-qwen3 (gen_model.py: 4 layers, 256, ffn 512, 4/2 heads of 64, seed 5)", model: third, text: FX + "tinyqwen/calibration.txt", ctx: 256 },
  // qwen3moe, random weights, 8 experts of which 2 are used; tinyqwen's tokenizer, so the same text and KL tokens
  { name: "moe-tiny", model: FX + "moe/moe-tiny-f16.gguf", text: FX + "tinyqwen/calibration.txt", ctx: 256, klTokens: FX + "tinyqwen/activation_tokens_ctx256.i32" },
];

function ranks(a: number[]): number[] {
  const o = a.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const r = new Array<number>(a.length);
  for (let i = 0; i < o.length;) { let j = i; while (j + 1 < o.length && o[j + 1]![0] === o[i]![0]) j++; for (let k = i; k <= j; k++) r[o[k]![1]] = (i + j) / 2; i = j + 1; }
  return r;
}
function spearman(a: number[], b: number[]): number {
  const ra = ranks(a), rb = ranks(b), n = a.length;
  const ma = ra.reduce((s, v) => s + v, 0) / n, mb = rb.reduce((s, v) => s + v, 0) / n;
  let c = 0, va = 0, vb = 0;
  for (let i = 0; i < n; i++) { c += (ra[i]! - ma) * (rb[i]! - mb); va += (ra[i]! - ma) ** 2; vb += (rb[i]! - mb) ** 2; }
  return c / Math.sqrt(va * vb);
}
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2; };

function score(label: string, recs: SweepRecord[], pred: number[]): string {
  const meas = recs.map((r) => r.measuredKl!);
  const logs = pred.map((p, i) => Math.log10(p / meas[i]!));
  const within = [...new Set(recs.map((r) => r.type))].map((t) => {
    const idx = recs.map((r, i) => (r.type === t ? i : -1)).filter((i) => i >= 0);
    return `${t} ${spearman(idx.map((i) => pred[i]!), idx.map((i) => meas[i]!)).toFixed(3)}`;
  });
  return `| ${label} | ${recs.length} | ${spearman(pred, meas).toFixed(3)} | ${within.join(", ")} | ${median(logs.map(Math.abs)).toFixed(3)} | ${median(logs).toFixed(3)} |`;
}

async function main(): Promise<void> {
  if (!existsSync(third)) {
    execFileSync("python3", [FX + "../tools/gen_model.py", "--layers", "4", "--hidden", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2", "--head-dim", "64",
      "--vocab-from", FX + "models/tinyqwen-f16.gguf", "--seed", "5", third], { stdio: "ignore" });
  }
  const out: string[] = ["| model / method | n | Spearman | within type | median abs log10 | median log10 |", "|---|---|---|---|---|---|"];
  for (const c of cases) {
    if (arg("--only") && !c.name.startsWith(arg("--only")!)) continue;
    const src = openSource(c.model);
    const tok = tokenizerOf(src);
    const text = Int32Array.from(tok.encode(readTextFile(c.text)));
    const m = loadForwardModel(src);
    // KL tokens: the first 512 of the fixture's token file (the start of the text), or the text's first 512; calibration: see below
    const kt = c.klTokens ? readTokens(c.klTokens, m.config.vocab, 512) : text.slice(0, 512);
    // CHUNKS chunks spread evenly over the text after the first 512 tokens (a representative sample, disjoint from the KL tokens)
    const avail = Math.floor((text.length - 512) / c.ctx);
    const n = Math.min(CHUNKS, avail);
    const tail = new Int32Array(n * c.ctx);
    for (let i = 0; i < n; i++) {
      const at = 512 + Math.floor((i * avail) / n) * c.ctx;
      tail.set(text.subarray(at, at + c.ctx), i * c.ctx);
    }
    const t0 = performance.now();
    const st = await calibratePaths(c.model, tail, { nCtx: c.ctx, count: n, available: n }, tok.vocab.addBos ? tok.vocab.bos : undefined, { seed: 1 }, 2);
    const secs = (performance.now() - t0) / 1000;
    const file = join(dir, "calib.gguf");
    writeFileSync(file, encodeCalibGguf(st, { datasets: [c.text] }));
    const calib = readCalib(file)!;
    const kl = prepareKl(m, kt, c.ctx);
    const t1 = performance.now();
    const res = sweepModel(src, { types: TYPES, calib, kl });
    const keep = (rs: readonly SweepRecord[]) => rs.filter((r) => !r.skipped && r.type !== "F16");
    const seen = new Set<string>();
    const recs = keep(res.records).filter((r) => { const k = r.tensor + r.type; const dup = seen.has(k); seen.add(k); return !dup; });
    const pick = (rs: readonly SweepRecord[]) => { const by = new Map(rs.map((r) => [r.tensor + r.requestedType, r.sensitivity])); return recs.map((r) => by.get(r.tensor + r.requestedType)!); };
    const diag = sweepModel(src, { types: TYPES, calib: { ...calib, fisher: new Map() } });
    const gain = sweepModel(src, { types: TYPES, imatrix: readImatrix(file), quantizeWithImatrix: false });
    process.stderr.write(`${c.name}: calibrate ${n}x${c.ctx} tokens in ${secs.toFixed(1)} s, sweep + measured KL ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);
    out.push(score(`${c.name}: calib (Fisher marginals)`, recs, recs.map((r) => r.sensitivity)));
    out.push(score(`${c.name}: calib diagonal`, recs, pick(diag.records)));
    out.push(score(`${c.name}: gain table (imatrix, scaled)`, recs, pick(gain.records)));
    // MoE: the expert tensors alone, and the tensors upstream of no router (the last block's FFN experts, the head)
    if (recs.some((r) => r.experts)) {
      const sub = (f: (r: SweepRecord) => boolean) => { const i = recs.map((r, j) => (f(r) ? j : -1)).filter((j) => j >= 0); return { rs: i.map((j) => recs[j]!), p: i.map((j) => recs[j]!.sensitivity) }; };
      const ex = sub((r) => !!r.experts);
      out.push(score(`${c.name}: calib, expert tensors only`, ex.rs, ex.p));
      const dense = sub((r) => !r.experts);
      out.push(score(`${c.name}: calib, other tensors only`, dense.rs, dense.p));
    }
    if (process.argv.includes("--records")) for (const r of recs) process.stderr.write(`${r.tensor} ${r.type} pred ${r.sensitivity.toExponential(3)} measured ${r.measuredKl!.toExponential(3)}\n`);
    src.close();
  }
  process.stdout.write(out.join("\n") + "\n");
}

await main();
