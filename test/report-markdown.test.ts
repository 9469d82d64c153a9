// The Markdown report: every image link points to a real SVG/PNG file beside
// it, every table is well-formed, the tensor links resolve to headings, and it
// carries the same findings as the diagnosis.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildReport } from "../src/pipeline/report.js";
import { githubAnchor, tableMarkdown, writeMarkdown } from "../src/report/markdown.js";

const EXAMPLE = new URL("../examples/tinyqwen-blk0/", import.meta.url).pathname;

/** Cells of a table row, splitting on pipes that are not escaped. */
function cells(line: string): string[] {
  assert.ok(line.startsWith("|") && line.endsWith("|"), `table row ends with pipes: ${line}`);
  return line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
}

/** Checks every table (a run of lines starting with "|"); returns how many there were. */
function checkTables(md: string): number {
  const lines = md.split("\n");
  let tables = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("|")) continue;
    const block: string[] = [];
    while (i < lines.length && lines[i]!.startsWith("|")) block.push(lines[i++]!);
    assert.ok(block.length >= 2, `a table has a header and a separator: ${block[0]}`);
    const n = cells(block[0]!).length;
    assert.ok(n >= 2);
    assert.ok(cells(block[1]!).every((c) => /^:?-{3,}:?$/.test(c)), `separator row: ${block[1]}`);
    for (const row of block) assert.equal(cells(row).length, n, `same number of cells: ${row}`);
    assert.equal(lines[i - block.length - 1] ?? "", "", "a blank line before the table");
    tables++;
  }
  return tables;
}

test("Markdown report: image links resolve, tables are well-formed, anchors and findings are there", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "qs-report-md-"));
  try {
    const built = buildReport(EXAMPLE, { tensors: /ffn_down|attn_v/, outputTokens: 32 });
    const mdPath = join(dir, "report.md");
    const written = await writeMarkdown(built.data, built.diagnosis, mdPath);
    const md = readFileSync(mdPath, "utf8");

    const images = [...md.matchAll(/!\[([^\]]*)\]\(([^)]+)\)/g)].map((m) => m[2]!);
    const svgs = [...md.matchAll(/\[SVG\]\(([^)]+)\)/g)].map((m) => m[1]!);
    // Two tensors x 4 charts, plus the ranking, Pareto and mix charts.
    assert.equal(images.length, 2 * 4 + 3);
    assert.equal(svgs.length, images.length);
    assert.equal(written.length, 2 * images.length);
    for (const link of [...images, ...svgs]) {
      assert.ok(!/^[a-z]+:|^\//i.test(link), `relative link: ${link}`);
      const file = join(dirname(mdPath), decodeURI(link));
      assert.ok(existsSync(file), `link target exists: ${link}`);
      const bytes = readFileSync(file);
      if (file.endsWith(".png")) {
        assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${link} is a PNG`);
        const width = bytes.readUInt32BE(16), height = bytes.readUInt32BE(20);
        assert.ok(width >= 400 && height >= 100, `${link}: ${width}x${height}`);
      } else {
        const svg = bytes.toString("utf8");
        assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, `${link} is an SVG`);
        assert.match(svg, /class="mark-[a-z]+ role-mark[^"]*"[^>]*>\s*<(path|line|text)/, `${link} has drawn marks`);
      }
    }

    assert.ok(checkTables(md) >= 1 + 1 + 2 * 2, "ranking, mixes, and per tensor stats + curve tables");

    // The tensor list links to headings that exist.
    const headings = new Set([...md.matchAll(/^#{1,6} (.+)$/gm)].map((m) => githubAnchor(m[1]!)));
    const anchors = [...md.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    assert.equal(anchors.length, 2);
    for (const a of anchors) assert.ok(headings.has(a), `#${a} is a heading`);

    // Same findings as the diagnosis.
    const all = [...built.diagnosis.summary, ...[...built.diagnosis.perTensor.values()].flat()];
    assert.ok(all.length >= 4);
    for (const f of all) assert.ok(md.includes(f.text), `finding in the Markdown: ${f.text}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tableMarkdown escapes pipes and newlines inside cells", () => {
  const md = tableMarkdown({ header: ["a|b", "c"], rows: [["x|y", "line\nbreak"]], numeric: [false, true] });
  assert.equal(checkTables(`\n${md}`), 1);
  assert.deepEqual(cells(md.split("\n")[2]!), ["x\\|y", "line break"]);
  assert.equal(md.split("\n")[1], "| --- | ---: |");
});
