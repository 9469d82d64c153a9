// The study's folder layout: blk_<N>_<name>_weight.f32bin weights (named
// blk.N.<name>.weight here) and act_blk<N>_<kind>.f32bin matmul inputs,
// which are exposed separately with the weights they feed.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileError, QuantscopeError } from "./errors.js";
import { F32BinSource, f32binTensorName } from "./f32bin-source.js";
import { suggest, TensorIndex } from "./lookup.js";
import type { Matrix } from "./f32bin.js";
import { modelJsonMetadata, readModelJson } from "./model-json.js";
import type { SourceFormat, TensorInfo, TensorSource } from "./source.js";

/** Which weights consume each activation kind (llama.cpp graph: q/k/v share attn_norm, gate/up share ffn_norm). */
export const ACTIVATION_CONSUMERS: Readonly<Record<string, readonly string[]>> = {
  attn_input: ["attn_q", "attn_k", "attn_v"],
  attn_output_input: ["attn_output"],
  ffn_input: ["ffn_gate", "ffn_up"],
  ffn_down_input: ["ffn_down"],
};

export interface ActivationInfo {
  /** File stem, e.g. "act_blk0_ffn_input". */
  name: string;
  block: number;
  /** attn_input, attn_output_input, ffn_input, ffn_down_input (or another suffix, consumers then empty). */
  kind: string;
  /** GGUF names of the weights this activation is the input of. */
  consumers: string[];
  path: string;
  /** Tokens. */
  rows: number;
  cols: number;
}

const ACT = /^act_blk(\d+)_(.+)\.f32bin$/;

export class StudyDirSource implements TensorSource {
  readonly format: SourceFormat = "study-dir";
  /** Empty, or the facts of the folder's model.json (model-json.ts). */
  readonly metadata: ReadonlyMap<string, unknown> = new Map();
  private readonly weights = new Map<string, F32BinSource>();
  private readonly acts = new Map<string, { info: ActivationInfo; src: F32BinSource }>();
  private readonly index: TensorIndex;

  constructor(readonly path: string) {
    let names: string[];
    try {
      names = readdirSync(path).filter((f) => f.toLowerCase().endsWith(".f32bin")).sort();
    } catch (e) {
      throw new QuantscopeError(`${path}: cannot list the folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    const infos: TensorInfo[] = [];
    try {
      for (const f of names) {
        const full = join(path, f);
        const a = ACT.exec(f);
        if (a) {
          const src = new F32BinSource(full, f.replace(/\.f32bin$/i, ""));
          const t = src.tensors()[0]!;
          const block = Number(a[1]);
          const kind = a[2]!;
          const consumers = (ACTIVATION_CONSUMERS[kind] ?? []).map((w) => `blk.${block}.${w}.weight`);
          this.acts.set(t.name, { info: { name: t.name, block, kind, consumers, path: full, rows: t.rows, cols: t.cols }, src });
          continue;
        }
        const name = f32binTensorName(f);
        const src = new F32BinSource(full, name);
        this.weights.set(name, src);
        infos.push(src.tensors()[0]!);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    if (infos.length === 0 && this.acts.size === 0) throw new QuantscopeError(`${path}: folder holds no .f32bin files (expected blk_<N>_<name>_weight.f32bin and act_blk<N>_<kind>.f32bin)`);
    this.index = new TensorIndex(path, infos);
    const facts = join(path, "model.json");
    if (existsSync(facts)) {
      const m = readModelJson(facts);
      const top = Math.max(-1, ...infos.map((t) => Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1)));
      if (top >= m.nLayers) {
        this.close();
        throw fileError(facts, `${m.nLayers} layers, but the folder holds blk_${top} (layers count from 0)`, undefined, '"n_layer"');
      }
      this.metadata = modelJsonMetadata(facts, m);
    }
  }

  tensors(): TensorInfo[] { return this.index.list; }
  tensor(name: string): TensorInfo { return this.index.get(name); }

  private weight(name: string): F32BinSource {
    return this.weights.get(this.index.get(name).name)!;
  }

  readRaw(name: string, start = 0, count?: number): Uint8Array {
    const t = this.index.get(name);
    return this.weight(name).readRaw(t.name, start, count);
  }

  readRows(name: string, start: number, count: number, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    return this.weight(name).readRows(t.name, start, count, into);
  }

  read(name: string, into?: Float32Array): Matrix {
    const t = this.index.get(name);
    return this.weight(name).read(t.name, into);
  }

  /** The activation dumps in the folder. */
  activations(): ActivationInfo[] {
    return [...this.acts.values()].map((a) => a.info);
  }

  /** The activation that feeds a weight (by GGUF name), if the folder has it. */
  activationFor(weight: string): ActivationInfo | undefined {
    return this.activations().find((a) => a.consumers.includes(weight));
  }

  /** An activation (by file stem, e.g. "act_blk0_ffn_input"), all rows or a range of tokens. */
  readActivation(name: string, start = 0, count?: number): Matrix {
    const a = this.acts.get(name);
    if (!a) throw new QuantscopeError(`${this.path}: no activation named "${name}"${suggest(name, [...this.acts.keys()])}`);
    return a.src.readRows(name, start, count ?? a.info.rows - start);
  }

  close(): void {
    for (const s of this.weights.values()) s.close();
    for (const a of this.acts.values()) a.src.close();
  }
}

export function isStudyDirSource(s: TensorSource): s is StudyDirSource {
  return s instanceof StudyDirSource;
}
