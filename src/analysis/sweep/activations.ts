// Real activations for the sweep's relative output error: a folder of f32bin
// files, either one per tensor ("<tensor name>.f32bin", e.g.
// blk.0.ffn_down.weight.f32bin, or act_blk_0_ffn_down_weight.f32bin) or the study's layout
// (act_blkN_<input>.f32bin, one file per matmul input, shared by the
// tensors that consume it).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileError } from "../../io/errors.js";
import { readF32Bin, readF32BinHeader, type Matrix } from "../../io/f32bin.js";
import { layerOf, tensorCategory } from "../plan/mixes.js";

const STUDY_INPUT: Record<string, string> = {
  attn_q: "attn_input", attn_k: "attn_input", attn_v: "attn_input",
  attn_output: "attn_output_input",
  ffn_gate: "ffn_input", ffn_up: "ffn_input",
  ffn_down: "ffn_down_input",
};

export class ActivationDir {
  private readonly files: Set<string>;
  private cachePath: string | null = null;
  private cache: Matrix | null = null;

  /** maxRows: use at most this many activation rows (the first ones) per tensor. */
  constructor(readonly dir: string, readonly maxRows = 1024) {
    if (!existsSync(dir)) throw fileError(dir, "no such folder");
    if (!statSync(dir).isDirectory()) throw fileError(dir, "is a file, expected a folder of f32bin activations");
    this.files = new Set(readdirSync(dir).filter((f) => f.endsWith(".f32bin")));
  }

  /** File holding the inputs of this tensor, or null. */
  fileFor(tensor: string): string | null {
    // (not "blk_0_attn_v_weight.f32bin": in the study layout that name is the weight itself)
    for (const f of [`${tensor}.f32bin`, `act_${tensor.replaceAll(".", "_")}.f32bin`]) {
      if (this.files.has(f)) return join(this.dir, f);
    }
    const layer = layerOf(tensor);
    const input = STUDY_INPUT[tensorCategory(tensor)];
    if (layer === null || !input) return null;
    const f = `act_blk${layer}_${input}.f32bin`;
    return this.files.has(f) ? join(this.dir, f) : null;
  }

  /** Activation rows (tokens × cols) for a tensor with `cols` inputs, or null when there is no file. */
  forTensor(tensor: string, cols: number): Matrix | null {
    const path = this.fileFor(tensor);
    if (!path) return null;
    if (path === this.cachePath && this.cache) return this.cache;
    const h = readF32BinHeader(path);
    if (h.cols !== cols) {
      throw fileError(path, `has ${h.cols} columns but ${tensor} takes ${cols} inputs (wrong file for this model?)`);
    }
    const m = readF32Bin(path, 0, Math.min(h.rows, this.maxRows));
    this.cachePath = path;
    this.cache = m;
    return m;
  }

  get count(): number {
    return this.files.size;
  }
}
