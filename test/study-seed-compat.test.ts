// --seed-compat against the original study's own outputs: every line's text
// (numbers masked) must be identical and every number must agree within 0.5 %
// relative or one unit in the last printed digit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { folderSources, runStudy } from "../src/analysis/study/study.js";
import { proxyQuantizer } from "../src/analysis/study/group-quantizer.js";
import { formatStudySeed } from "../src/report/study-seed-text.js";

const shared = (p: string) => fileURLToPath(new URL(`../../shared/${p}`, import.meta.url));
const NUM = /nan|-?inf|-?(?:\d+\.\d+|\d+)(?:e[+-]?\d+)?/gi;

function lastDigitUnit(s: string): number {
  const m = /\.(\d+)/.exec(s);
  return m ? 10 ** -m[1]!.length : 1;
}

function compare(ours: string, theirs: string, label: string): number {
  const a = ours.split("\n");
  const b = theirs.replace(/\n$/, "").split("\n");
  assert.ok(a.length >= b.length, `${label}: ours has ${a.length} lines, the study ${b.length}`);
  let numbers = 0;
  for (let i = 0; i < b.length; i++) {
    const mine = a[i]!, ref = b[i]!;
    assert.equal(mine.replace(NUM, "#"), ref.replace(NUM, "#"), `${label} line ${i + 1} text differs`);
    const x = mine.match(NUM) ?? [], y = ref.match(NUM) ?? [];
    assert.equal(x.length, y.length, `${label} line ${i + 1}: number count`);
    for (let k = 0; k < y.length; k++) {
      numbers++;
      if (x[k] === y[k]) continue;
      const u = Number(x[k]), v = Number(y[k]);
      const tol = Math.max(0.005 * Math.abs(v), lastDigitUnit(y[k]!) * 1.0000001);
      assert.ok(Math.abs(u - v) <= tol, `${label} line ${i + 1}: ${x[k]} vs study ${y[k]}\n  ours:  ${mine}\n  study: ${ref}`);
    }
  }
  return numbers;
}

function seedReport(dir: string): string {
  return formatStudySeed(runStudy(folderSources(dir), { seedCompat: true, quantizer: proxyQuantizer() }));
}

for (const name of ["seed-blk0", "seed-blk3", "seed-synthetic-s8"]) {
  test(`seed-compat reproduces tinyqwen ${name} line for line`, () => {
    const ours = seedReport(shared(`fixtures/tinyqwen/${name}/data`));
    const n = compare(ours, readFileSync(shared(`fixtures/tinyqwen/${name}/seed_output.txt`), "utf8"), name);
    assert.ok(n > 900, `compared ${n} numbers`);
  });
}

test("seed-compat reproduces stories260K up to the study's crash, then finishes", () => {
  const ours = seedReport(shared("fixtures/activations"));
  const theirs = readFileSync(shared("fixtures/seed-stories260K/seed_output.txt"), "utf8");
  const n = compare(ours, theirs, "stories260K");
  assert.ok(n > 900, `compared ${n} numbers`);
  // The study dies at section 9's first empty super-block array; we go on to the end.
  assert.match(theirs.trimEnd().split("\n").at(-1)!, /Super-blocks: 0/);
  assert.match(ours, /ffn_gate:\n Super-blocks: 0\n/);
  assert.match(ours, /ANALYSIS COMPLETE\n={80}\n$/);
});
