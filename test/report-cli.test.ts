// `quantscope report` as a user runs it: summary on stdout with the HTML path,
// one-line errors with exit code 2 for bad input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "report", ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("report CLI: writes the HTML and Markdown, prints a short summary with the path", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-report-cli-"));
  try {
    const out = join(dir, "r.html"), md = join(dir, "r.md");
    const r = run(["examples/tinyqwen-blk0", "--tensors", "attn_k|ffn_down", "--tokens", "16", "--out", out, "--md", md]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(out) && statSync(out).size > 500_000, "HTML with the inlined libraries");
    assert.ok(existsSync(md));
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0]!, /^quantscope report: examples\/tinyqwen-blk0 \(2 tensors\)$/);
    assert.ok(lines.length <= 17, "a short summary (16 lines, plus the line naming the calib.gguf found in the folder)");
    assert.ok(lines.some((l) => l === `HTML report: ${out} (${Math.round(statSync(out).size / 1024)} KiB)`), r.stdout);
    assert.match(r.stdout, /blk\.0\.ffn_down\.weight: 1\.0 % of input columns \(10 of 1024\) carry 26\.9 %/);
    assert.equal(r.stderr, "", "no progress bar when stderr is not a terminal");
    assert.match(readFileSync(out, "utf8"), /<title>quantscope report — examples\/tinyqwen-blk0<\/title>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("report CLI: bad input is one line on stderr and exit code 2", { timeout: 60_000 }, () => {
  const cases: [string[], RegExp][] = [
    [["/no/such/model"], /^quantscope: \/no\/such\/model: no such file or folder\n$/],
    [["examples/tinyqwen-blk0", "--tensors", "("], /^quantscope: --tensors: not a valid regular expression: .*\n$/],
    [["examples/tinyqwen-blk0", "--tokens", "0"], /^quantscope: --tokens must be a positive integer, got "0"\n$/],
    [["examples/tinyqwen-blk0", "--tensors", "nothing-matches"], /^quantscope: examples\/tinyqwen-blk0: no 2-D weight tensors match \/nothing-matches\/\n$/],
    [["examples/tinyqwen-blk0", "--activations", "/no/such/dir"], /^quantscope: \/no\/such\/dir: .*\n$/],
    [["examples/tinyqwen-blk0", "--imatrix", "README.md"], /^quantscope: README\.md: .*\n$/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.equal(r.stdout, "");
  }
});
