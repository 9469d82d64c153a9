// The measurements behind docs/sweep.md's validation and plan sections, from
// the shared fixtures only: single-tensor KLs measured with the reference
// forward pass (the slow part, optionally cached as JSON), and the sweeps
// without KL that the activation-r and plan figures need.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSource, readImatrix } from "../../src/io/source.js";
import { sweepModel } from "../../src/analysis/sweep/sweep.js";
import { ActivationDir } from "../../src/analysis/sweep/activations.js";
import { loadForwardModel } from "../../src/model/forward/model.js";
import { prepareKl, type KlHarness } from "../../src/model/forward/kl.js";
import { readTokens } from "../../src/model/forward/tokens.js";
import type { SweepRecord } from "../../src/analysis/sweep/types.js";

/** Path of a file in the shared fixtures (../shared/fixtures from the checkout). */
export const fx = (p: string): string => fileURLToPath(new URL(`../../../shared/fixtures/${p}`, import.meta.url));

export interface ModelFixture {
  readonly name: "stories260K" | "tinyqwen";
  readonly model: string;
  readonly imatrix: string;
  readonly tokens: string;
  readonly chunk: number;
}

export const STORIES: ModelFixture = {
  name: "stories260K", model: "models/stories260K.gguf", imatrix: "imatrix/imatrix.gguf",
  tokens: "activations/tokens_ctx128.i32", chunk: 128,
};
export const TINYQWEN: ModelFixture = {
  name: "tinyqwen", model: "models/tinyqwen-f16.gguf", imatrix: "tinyqwen/imatrix.gguf",
  tokens: "tinyqwen/activation_tokens_ctx256.i32", chunk: 256,
};

/** A measured data set: one model, one token window, some types. */
export interface KlDataset {
  readonly id: string;
  readonly fixture: ModelFixture;
  /** Token window [start, start + count) of the fixture's token file. */
  readonly start: number;
  readonly count: number;
  readonly types: readonly string[];
}

/** The calibration measurements the gain tables were fitted on (docs/sweep.md). */
export const STORIES_CAL: KlDataset = { id: "stories260K-cal", fixture: STORIES, start: 0, count: 1024, types: ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"] };
export const TINYQWEN_CAL: KlDataset = { id: "tinyqwen-cal", fixture: TINYQWEN, start: 0, count: 256, types: ["Q2_K", "Q3_K", "Q4_K", "Q6_K"] };
/** stories260K on tokens the calibration did not see (same tensors, same all-token imatrix). */
export const STORIES_TOKENS_OUT: KlDataset = { id: "stories260K-tokens6144", fixture: STORIES, start: 6144, count: 512, types: ["Q2_K", "Q5_K"] };

export function tokenWindow(f: ModelFixture, vocab: number, start: number, count: number): Int32Array {
  return readTokens(fx(f.tokens), vocab, start + count).slice(start);
}

export function harness(f: ModelFixture, start: number, count: number): { hx: KlHarness; close: () => void; src: ReturnType<typeof openSource> } {
  const src = openSource(fx(f.model));
  const fm = loadForwardModel(src);
  const toks = tokenWindow(f, fm.config.vocab, start, count);
  if (toks.length !== count) throw new Error(`${f.tokens}: only ${toks.length} tokens in window ${start}+${count}`);
  return { hx: prepareKl(fm, toks, f.chunk), src, close: () => src.close() };
}

/** Single-tensor measured KLs (sweep --measure-kl with the imatrix) of a data set; cached in `cacheDir` when given. */
export function measuredRecords(d: KlDataset, cacheDir?: string, log: (s: string) => void = () => {}): SweepRecord[] {
  const file = cacheDir ? join(cacheDir, `${d.id}.json`) : null;
  if (file && existsSync(file)) {
    const c = JSON.parse(readFileSync(file, "utf8")) as { dataset: KlDataset; records: SweepRecord[] };
    if (JSON.stringify(c.dataset) === JSON.stringify(d)) return c.records;
  }
  const t0 = Date.now();
  const { hx, src, close } = harness(d.fixture, d.start, d.count);
  try {
    const res = sweepModel(src, { types: d.types, imatrix: readImatrix(fx(d.fixture.imatrix)), kl: hx });
    log(`${d.id}: ${res.records.length} single-tensor KLs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (file) {
      mkdirSync(cacheDir!, { recursive: true });
      writeFileSync(file, JSON.stringify({ dataset: d, records: res.records }));
    }
    return [...res.records];
  } finally {
    close();
  }
}

/** The same tensors and types with r measured on activation dumps instead of the imatrix estimate (no KL: joined by the caller). */
export function activationRecords(d: KlDataset, actDir: string, maxRows: number): SweepRecord[] {
  const src = openSource(fx(d.fixture.model));
  try {
    const res = sweepModel(src, { types: d.types, imatrix: readImatrix(fx(d.fixture.imatrix)), activations: new ActivationDir(actDir, maxRows) });
    return res.records.filter((r) => r.outputErrorSource === "activations");
  } finally {
    src.close();
  }
}
