// Activation lookup for the report. Wraps the sweep's ActivationDir, but never
// takes a study-layout *weight* file (blk_0_ffn_down_weight.f32bin) for the
// activations of blk.0.ffn_down.weight: ActivationDir's per-tensor naming
// ("<tensor name with _>.f32bin") matches those weight files when the study's
// folder is used as the activations folder.
import { join } from "node:path";
import { existsSync } from "node:fs";
import type { Matrix } from "../io/f32bin.js";
import { fileError } from "../io/errors.js";
import { readF32Bin, readF32BinHeader } from "../io/f32bin.js";
import { layerOf, tensorCategory } from "./mixes.js";
import { ActivationDir } from "./sweep-activations.js";

/** What the collector needs from an activation folder. */
export interface ActivationProvider {
  readonly dir: string;
  fileFor(tensor: string): string | null;
  forTensor(tensor: string, cols: number): Matrix | null;
}

/** Which activation the study's layout stores for each weight class. */
const STUDY_INPUT: Record<string, string> = {
  attn_q: "attn_input", attn_k: "attn_input", attn_v: "attn_input",
  attn_output: "attn_output_input",
  ffn_gate: "ffn_input", ffn_up: "ffn_input",
  ffn_down: "ffn_down_input",
};

const WEIGHT_FILE = /(^|[\\/])blk_\d+_\w+_weight\.f32bin$/;

export function reportActivations(dir: string, maxRows = 1024): ActivationProvider {
  const base = new ActivationDir(dir, maxRows);
  let cachePath: string | null = null;
  let cache: Matrix | null = null;
  const fileFor = (tensor: string): string | null => {
    const f = base.fileFor(tensor);
    if (f && !WEIGHT_FILE.test(f)) return f;
    const layer = layerOf(tensor);
    const input = STUDY_INPUT[tensorCategory(tensor)];
    if (layer === null || !input) return null;
    const p = join(dir, `act_blk${layer}_${input}.f32bin`);
    return existsSync(p) ? p : null;
  };
  return {
    dir,
    fileFor,
    forTensor(tensor, cols) {
      const path = fileFor(tensor);
      if (!path) return null;
      if (path === cachePath && cache) return cache;
      const h = readF32BinHeader(path);
      if (h.cols !== cols) throw fileError(path, `has ${h.cols} columns but ${tensor} takes ${cols} inputs (wrong file for this model?)`);
      cache = readF32Bin(path, 0, Math.min(h.rows, maxRows));
      cachePath = path;
      return cache;
    },
  };
}
