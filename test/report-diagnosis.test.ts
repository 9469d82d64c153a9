// The diagnosis on the bundled tinyqwen block 0, checked against the original
// study's printed numbers for the same data (seed_output.txt) and against
// numbers computed here, independently, from the raw f32bin files. Then each
// rule's threshold on small synthetic inputs: it fires when it should, and not
// when it should not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readF32Bin } from "../src/io/f32bin.js";
import { buildReport } from "../src/pipeline/report.js";
import { diagnose, diagnoseTensor, THRESHOLDS, type Finding } from "../src/analysis/diagnosis/diagnosis.js";
import type { ReportData, TensorEvidence } from "../src/analysis/diagnosis/model.js";
import { summarizeWeights } from "../src/analysis/diagnosis/stats.js";

const EXAMPLE = new URL("../examples/tinyqwen-blk0/", import.meta.url).pathname;
const SEED = readFileSync(new URL("../../shared/fixtures/tinyqwen/seed-blk0/seed_output.txt", import.meta.url), "utf8");

// Few tokens for the (slow) measured output error: none of the numbers checked here depend on it.
const built = buildReport(EXAMPLE, { outputTokens: 32 });

function finding(tensor: string, id: string): Finding | undefined {
  return built.diagnosis.perTensor.get(tensor)?.find((f) => f.id === id);
}

/** The lines of the seed's section-5 block for one activation ("ffn_down_input (swiglu)"). */
function seedSection5(name: string): string {
  const s5 = SEED.slice(SEED.indexOf("SECTION 5"), SEED.indexOf("SECTION 6"));
  const start = s5.indexOf(` ${name} (`);
  assert.ok(start >= 0, `seed section 5 has ${name}`);
  return s5.slice(start, s5.indexOf("Top 1%", start) + 80);
}

function seedNumber(block: string, re: RegExp): number {
  const m = re.exec(block);
  assert.ok(m, `seed output matches ${re}`);
  return Number(m[1]);
}

test("act-concentration: top-1 % power shares agree with the study's section 5 (printed to 0.1 %)", () => {
  const cases: [string, string][] = [
    ["blk.0.ffn_down.weight", "ffn_down_input (swiglu)"],
    ["blk.0.attn_q.weight", "attn_input (q/k/v)"],
    ["blk.0.attn_k.weight", "attn_input (q/k/v)"],
    ["blk.0.attn_v.weight", "attn_input (q/k/v)"],
  ];
  for (const [tensor, act] of cases) {
    const block = seedSection5(act);
    const top1 = seedNumber(block, /Top 1% of dims contribute ([\d.]+)%/);
    const top10 = seedNumber(block, /Top 10% of dims contribute ([\d.]+)%/);
    const ratio = seedNumber(block, /Max\/Min ratio: ([\d.]+)x/);
    const f = finding(tensor, "act-concentration");
    assert.ok(f, `${tensor}: ${top1} % in the top 1 % is above ${THRESHOLDS.actTop1Share * 100} %, so the finding fires`);
    assert.ok(Math.abs(f.value * 100 - top1) <= 0.05 + 1e-9, `${tensor}: ${f.value * 100} vs seed ${top1}`);
    assert.ok(Math.abs((f.evidence.top10PctShare as number) * 100 - top10) <= 0.05 + 1e-9);
    assert.ok(Math.abs((f.evidence.maxOverMinRms as number) - ratio) <= 0.05 + 1e-9);
  }
  // The seed's top columns by RMS for the SwiGLU input, in order.
  const top = finding("blk.0.ffn_down.weight", "act-concentration")!.evidence.topColumns as number[];
  assert.deepEqual(top.slice(0, 5), [110, 989, 700, 190, 366]);
  assert.equal(finding("blk.0.ffn_down.weight", "act-concentration")!.severity, "high"); // 26.9 % >= 25 %
  assert.equal(finding("blk.0.attn_q.weight", "act-concentration")!.severity, "medium"); // 13.7 %
  // 1.7 % (ffn_input) and 4.9 % (attn_output_input) are below the threshold: no finding.
  for (const t of ["blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.attn_output.weight"]) {
    assert.equal(finding(t, "act-concentration"), undefined, t);
  }
});

test("heavy-tails: excess kurtosis agrees with the study's section 1; fires only for attn_k", () => {
  const s1 = SEED.slice(SEED.indexOf("SECTION 1"), SEED.indexOf("SECTION 2"));
  const kurt = new Map<string, number>();
  for (const m of s1.matchAll(/\n (\w+):\n shape=[\s\S]*?excess_kurtosis=(-?[\d.]+)/g)) kurt.set(m[1]!, Number(m[2]));
  assert.equal(kurt.size, 7);
  for (const t of built.data.tensors) {
    const key = t.kind === "attn_output" ? "attn_out" : t.kind;
    const seed = kurt.get(key)!;
    assert.ok(Math.abs(t.weight.excessKurtosis - seed) <= 0.00005 + 1e-9, `${t.name}: ${t.weight.excessKurtosis} vs ${seed}`);
    assert.equal(finding(t.name, "heavy-tails") !== undefined, seed >= THRESHOLDS.kurtosis, t.name);
  }
  assert.ok(Math.abs(finding("blk.0.attn_k.weight", "heavy-tails")!.value - 1.4751) < 1e-4);
});

/** Independent 2-bit RMSEs over groups of 16 along the rows: symmetric levels ±{1,3}·amax/3, and min + q·range/3. */
function twoBitRmse(file: string): { scaleOnly: number; withOffset: number } {
  const m = readF32Bin(file);
  let eNo = 0, eWith = 0;
  for (let g = 0; g < m.data.length; g += 16) {
    const x = Array.from(m.data.subarray(g, g + 16));
    const amax = Math.max(...x.map(Math.abs)), mn = Math.min(...x), mx = Math.max(...x);
    const sym = [-amax, -amax / 3, amax / 3, amax];
    const aff = [0, 1, 2, 3].map((q) => mn + (q * (mx - mn)) / 3);
    for (const v of x) {
      eNo += Math.min(...sym.map((l) => (v - l) ** 2));
      eWith += Math.min(...aff.map((l) => (v - l) ** 2));
    }
  }
  return { scaleOnly: Math.sqrt(eNo / m.data.length), withOffset: Math.sqrt(eWith / m.data.length) };
}

test("offset rule: 2-bit RMSEs match an independent computation and the study's printed with-offset RMSE", () => {
  for (const t of built.data.tensors) {
    const file = `${EXAMPLE}blk_0_${t.kind}_weight.f32bin`;
    const ref = twoBitRmse(file);
    assert.ok(Math.abs(t.offset!.rmseScaleOnly - ref.scaleOnly) / ref.scaleOnly < 1e-6, `${t.name} scale-only`);
    assert.ok(Math.abs(t.offset!.rmseWithOffset - ref.withOffset) / ref.withOffset < 1e-6, `${t.name} with offset`);
    const gain = 1 - ref.withOffset / ref.scaleOnly;
    assert.equal(finding(t.name, "offset") !== undefined, gain >= THRESHOLDS.offsetGain, `${t.name}: gain ${gain}`);
  }
  // ffn_down has 256 rows, so the study's first-256-rows section 3 covers it all: its printed with-offset RMSE.
  const s3 = SEED.slice(SEED.indexOf(" ffn_down (16384 groups)"));
  const seedWith = seedNumber(s3, /Quant RMSE \(with offset\): ([\d.]+)/);
  const down = built.data.tensors.find((t) => t.kind === "ffn_down")!;
  assert.ok(Math.abs(down.offset!.rmseWithOffset - seedWith) <= 0.0000005 + 1e-12, `${down.offset!.rmseWithOffset} vs ${seedWith}`);
});

test("activation power per column equals E[x²] computed from the raw activation file", () => {
  const X = readF32Bin(`${EXAMPLE}act_blk0_ffn_down_input.f32bin`);
  const down = built.data.tensors.find((t) => t.kind === "ffn_down")!;
  for (const j of [0, 110, 989, 1023]) {
    let s = 0;
    for (let t = 0; t < X.rows; t++) s += X.data[t * X.cols + j]! ** 2;
    assert.ok(Math.abs(down.activation!.colPower[j]! - s / X.rows) <= 1e-12 + 1e-9 * (s / X.rows));
  }
});

test("the model summary ranks tensors by the sweep's predicted KL and names the worst class", () => {
  const d = built.diagnosis;
  assert.equal(d.ranking.length, 7);
  for (let i = 1; i < d.ranking.length; i++) assert.ok(d.ranking[i - 1]!.score >= d.ranking[i]!.score);
  const q2 = built.data.records.filter((r) => r.requestedType === "Q2_K");
  const worst = q2.reduce((a, b) => (b.sensitivity > a.sensitivity ? b : a));
  assert.equal(d.ranking[0]!.tensor, worst.tensor);
  const most = d.summary.find((f) => f.id === "most-sensitive")!;
  assert.match(most.text, new RegExp(worst.tensor.replace(/\./g, "\\.")));
  assert.ok(d.summary.some((f) => f.id === "sensitive-class"));
  // The standard mixes are priced: Q2_K < Q4_K_M < Q6_K in size, the reverse in predicted damage.
  const mix = (l: string) => built.data.plans.find((p) => p.label === l)!;
  assert.ok(mix("Q2_K").bpw < mix("Q4_K_M").bpw && mix("Q4_K_M").bpw < mix("Q6_K").bpw);
  assert.ok(mix("Q2_K").predictedDamage! > mix("Q4_K_M").predictedDamage! && mix("Q4_K_M").predictedDamage! > mix("Q6_K").predictedDamage!);
});

// ---------------------------------------------------------------- rules on synthetic evidence

function synthetic(cols: number, power: (j: number) => number, mse: (j: number) => number, kurtosis = 0): TensorEvidence {
  const w = new Float32Array(64).map((_, i) => Math.sin(i));
  return {
    name: "blk.0.test.weight", kind: "test", rows: 8, cols,
    weight: { ...summarizeWeights(w), excessKurtosis: kurtosis },
    activation: { source: "activations", label: "x", tokens: 10, colPower: Float64Array.from({ length: cols }, (_, j) => power(j)) },
    columnError: { type: "Q2_K", colMse: Float64Array.from({ length: cols }, (_, j) => mse(j)), colMeanSquare: new Float64Array(cols).fill(1) },
    curve: [],
  };
}

const ids = (fs: Finding[]) => fs.map((f) => f.id);

test("rules: uniform columns trigger nothing; one loud column triggers both concentration rules", () => {
  assert.deepEqual(ids(diagnoseTensor(synthetic(512, () => 1, () => 1))), []);
  const fs = diagnoseTensor(synthetic(512, (j) => (j === 7 ? 511 : 1), () => 1));
  // Top 1 % of 512 columns = 5 columns: 511 + 4 of a total 1022.
  const act = fs.find((x) => x.id === "act-concentration")!;
  assert.ok(Math.abs(act.value - 515 / 1022) < 1e-12);
  assert.equal(act.severity, "high");
  assert.deepEqual((act.evidence.topColumns as number[]).slice(0, 1), [7]);
  // Top 5 % = 25 columns of power x mse: 511 + 24 of 1022.
  const err = fs.find((x) => x.id === "error-concentration")!;
  assert.ok(Math.abs(err.value - 535 / 1022) < 1e-12);
  assert.equal(err.severity, "high");
  assert.equal(fs.find((x) => x.id === "coupling"), undefined); // constant MSE: correlation undefined
  // Just under the threshold: top 1 % share 9.9 % -> no finding.
  const under = 0.099; // x/(x + 507) = under with x the summed top-5 power, 4 of them 1
  const x = (under * 507) / (1 - under);
  assert.equal(diagnoseTensor(synthetic(512, (j) => (j === 0 ? x - 4 : 1), () => 1)).find((f) => f.id === "act-concentration"), undefined);
});

test("rules: coupled power and error fire the coupling rules", () => {
  const p = (j: number) => 1 + j / 100;
  const fs = diagnoseTensor(synthetic(512, p, p));
  const c = fs.find((f) => f.id === "coupling")!;
  assert.ok(Math.abs(c.value - 1) < 1e-9);
  let lo = 0, hi = 0;
  for (let j = 0; j < 512; j++) (j < 256 ? (lo += p(j) ** 2) : (hi += p(j) ** 2));
  const share = hi / (lo + hi);
  const sb = fs.find((f) => f.id === "superblock-coupling");
  assert.equal(sb !== undefined, share - 0.5 >= THRESHOLDS.couplingExcessShare, `share ${share}`);
  if (sb) assert.ok(Math.abs(sb.value - (share - 0.5)) < 1e-12);
  // Anti-coupled: no coupling finding.
  assert.equal(diagnoseTensor(synthetic(512, p, (j) => 10 - j / 100)).find((f) => f.id === "coupling"), undefined);
});

test("rules: kurtosis, offset, imatrix and recommended-type thresholds", () => {
  const t = synthetic(64, () => 1, () => 1);
  const sev = (e: TensorEvidence, id: string) => diagnoseTensor(e).find((f) => f.id === id)?.severity;
  assert.equal(sev({ ...t, weight: { ...t.weight, excessKurtosis: 0.9 } }, "heavy-tails"), undefined);
  assert.equal(sev({ ...t, weight: { ...t.weight, excessKurtosis: 1.5 } }, "heavy-tails"), "medium");
  assert.equal(sev({ ...t, weight: { ...t.weight, excessKurtosis: 6 } }, "heavy-tails"), "high");
  const off = (w: number) => ({ ...t, offset: { groupSize: 16, rmseScaleOnly: 1, rmseWithOffset: w, groupsOffsetAbove02: null } });
  assert.equal(sev(off(0.7), "offset"), "medium");
  assert.equal(sev(off(0.5), "offset"), "high");
  assert.equal(sev(off(0.9), "offset"), undefined);
  assert.equal(sev(off(0.9), "offset-irrelevant"), undefined);
  assert.equal(sev(off(0.97), "offset-irrelevant"), "info");
  const point = (type: string, bpw: number, err: number, without?: number) => ({
    type, requestedType: type, bpw, relRmse: err, relOutputError: err, outputErrorSource: "activations", usedImatrix: true, sensitivity: err * err,
    ...(without !== undefined ? { relOutputErrorWithoutImatrix: without } : {}),
  });
  const curve = [point("Q2_K", 2.625, 0.3, 0.5), point("Q3_K", 3.4375, 0.08), point("Q4_K", 4.5, 0.04), point("Q6_K", 6.5625, 0.01)];
  const fs = diagnoseTensor({ ...t, curve });
  const im = fs.find((f) => f.id === "imatrix-gain")!;
  assert.ok(Math.abs(im.value - 0.4) < 1e-12);
  assert.equal(fs.find((f) => f.id === "recommended-type")!.evidence.type, "Q4_K");
  assert.equal(diagnoseTensor({ ...t, curve: [point("Q2_K", 2.625, 0.3, 0.32)] }).find((f) => f.id === "imatrix-gain"), undefined);
  // The model summary: class ranking by predicted KL at the lowest type.
  const data: ReportData = {
    model: "m", records: [], plans: [], notes: [],
    tensors: [
      { ...t, name: "blk.0.a.weight", kind: "a", curve: [point("Q2_K", 2.625, 0.3)] },
      { ...t, name: "blk.0.b.weight", kind: "b", curve: [point("Q2_K", 2.625, 0.6)] },
    ],
  };
  const d = diagnose(data);
  assert.deepEqual(d.ranking.map((r) => r.tensor), ["blk.0.b.weight", "blk.0.a.weight"]);
  assert.match(d.summary.find((f) => f.id === "sensitive-class")!.text, /^b is the most sensitive/);
});

test("the report's numbers agree with `quantscope study` on the same folder (sections 1, 3 and 5)", async () => {
  const { folderSources, runStudy } = await import("../src/analysis/study/study.js");
  const { proxyQuantizer } = await import("../src/analysis/study/group-quantizer.js");
  const study = runStudy(folderSources(EXAMPLE), { seedCompat: false, quantizer: proxyQuantizer() });
  const studyKey = (kind: string) => (kind === "attn_output" ? "attn_out" : kind);
  for (const t of built.data.tensors) {
    const s1 = study.section1.tensors.find((x) => x.name === studyKey(t.kind))!;
    assert.ok(Math.abs(t.weight.excessKurtosis - s1.excessKurtosis!) < 1e-9, `${t.name} kurtosis`);
    assert.ok(Math.abs(t.weight.std - s1.std!) < 1e-12, `${t.name} std`);
    const s3 = study.section3.tensors.find((x) => x.name === studyKey(t.kind))!;
    // Same quantity, summed in a different order by the study's streaming path: agree to 1e-12 relative.
    assert.ok(Math.abs(t.offset!.rmseScaleOnly / s3.rmseNoOffset! - 1) < 1e-12, `${t.name} rmse without offset`);
    assert.ok(Math.abs(t.offset!.rmseWithOffset / s3.rmseWithOffset! - 1) < 1e-12, `${t.name} rmse with offset`);
  }
  const site: Record<string, string> = { ffn_down: "ffn_down_input", attn_q: "attn_input", ffn_gate: "ffn_input", attn_output: "attn_output_input" };
  for (const [kind, act] of Object.entries(site)) {
    const t = built.data.tensors.find((x) => x.kind === kind)!;
    const s5 = study.section5.tensors.find((x) => x.name.startsWith(act))!;
    const fired = finding(t.name, "act-concentration");
    const top1 = fired ? fired.value * 100 : undefined;
    if (top1 !== undefined) assert.ok(Math.abs(top1 - s5.top1PctPowerShare!) < 1e-6, `${kind}: ${top1} vs ${s5.top1PctPowerShare}`);
    else assert.ok(s5.top1PctPowerShare! < THRESHOLDS.actTop1Share * 100, `${kind}: no finding below the threshold`);
  }
});
