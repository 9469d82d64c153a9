// Orchestration of `quantscope plan`: the sweep's records → the plan at a target size (the exact file
// size from a GGUF source's header, llama-quantize's own layout) → optionally the measured KL of the
// plan and of the standard mixes beside it → the tensor-type lines and the llama-quantize command.
import { statSync } from "node:fs";
import { GgufSource } from "../io/gguf.js";
import type { Imatrix, TensorSource } from "../io/source.js";
import { readImatrix } from "../io/source.js";
import { mixModelFromSource, parseMix } from "../analysis/plan/mixes.js";
import { sizeMix } from "../analysis/plan/mix-menu.js";
import { imatrixKv, quantizedFileSize, quantizedLayout } from "../analysis/plan/mix-size.js";
import { plan, planTypes, tensorTypeLines, type PlanResult } from "../analysis/plan/plan.js";
import { measureAssignmentKl, type MeasuredKl } from "../analysis/plan/validate.js";
import type { SweepResult } from "../analysis/sweep/types.js";
import { predSourceNote } from "../model/calibrate/predict.js";
import { klHarnessFor, type KlText } from "./inputs.js";

/** What the plan must fit: bits per weight, a file size in bytes, or the size of one of llama-quantize's ftypes for this model. */
export type PlanTarget = { readonly bpw: number } | { readonly bytes: number } | { readonly mix: string };

export interface PlanModelOptions {
  readonly target: PlanTarget;
  /** Whether llama-quantize will get an imatrix (imatrix-only types allowed, and the file carries its metadata). */
  readonly hasImatrix: boolean;
  /** The imatrix file: its metadata is part of the quantized file's size; its values weight the measured quantizations. */
  readonly imatrixPath?: string;
  readonly pins?: ReadonlyMap<string, string>;
  /** Ftypes to compare with (default: the nearest ones around the target). */
  readonly mixes?: readonly string[];
  readonly damage?: "predicted" | "measured";
  /** Measure the plan's and the mixes' whole-assignment KL on this text with the reference forward pass. */
  readonly measureKl?: KlText;
}

export interface PlannedModel {
  readonly plan: PlanResult;
  /** The plan's and each mix's measured KL, when asked for (NaN for a mix with a type quantscope cannot quantize). */
  readonly measured?: readonly MeasuredKl[];
  /** llama-quantize --tensor-type-file lines. */
  readonly tensorTypes: readonly string[];
  /** The ftype to name on llama-quantize's command line: the target's when it was one, else Q4_K_M (every tensor has a rule; it only sets general.file_type). */
  readonly ftype: string;
}

/** How a quantized file's size follows from its tensors' bytes: exact from a GGUF source's header, else bytes + overhead. */
export interface FileSizing {
  readonly overheadBytes: number;
  readonly fileSize?: (tensorBytes: readonly number[]) => number;
  readonly alignment?: number;
}

export function fileSizing(src: TensorSource, imatrixPath: string | undefined): FileSizing {
  if (!(src instanceof GgufSource)) return { overheadBytes: overheadOf(src) };
  const layout = quantizedLayout(src.headers, imatrixPath ? imatrixKv(imatrixPath, readImatrix(imatrixPath)) : undefined);
  return { overheadBytes: quantizedFileSize(layout, []), fileSize: (b) => quantizedFileSize(layout, b), alignment: layout.alignment };
}

/** Non-tensor bytes of the source file (GGUF header, metadata, padding); 0 for folders. */
function overheadOf(src: TensorSource): number {
  try {
    const size = statSync(src.path).size;
    const data = src.tensors().reduce((s, t) => s + t.byteSize, 0);
    return Math.max(0, size - data);
  } catch {
    return 0;
  }
}

export function planSweptModel(src: TensorSource, res: SweepResult, opts: PlanModelOptions): PlannedModel {
  const sizing = fileSizing(src, opts.imatrixPath);
  const mixModel = mixModelFromSource(src);
  const t = opts.target;
  const p = plan(res, {
    targetBpw: "bpw" in t ? t.bpw : undefined,
    targetSize: "bytes" in t ? t.bytes : "mix" in t ? sizeMix(parseMix(t.mix), mixModel, { hasImatrix: opts.hasImatrix, ...sizing }).fileBytes : undefined,
    overheadBytes: sizing.overheadBytes,
    fileSize: sizing.fileSize,
    alignment: sizing.alignment,
    pins: opts.pins ?? new Map(),
    hasImatrix: opts.hasImatrix,
    mixModel,
    mixes: opts.mixes?.map(parseMix),
    damage: opts.damage,
  });
  const pred = predSourceNote(res.records);
  // the predictions' source matters only where the plan used them (not where it used measured KL)
  if (pred && !p.choices.every((c) => c.source === "measured")) (p.notes as string[]).push(pred);
  const imatrix = opts.imatrixPath ? readImatrix(opts.imatrixPath) : undefined;
  return {
    plan: p,
    tensorTypes: tensorTypeLines(p),
    ftype: "mix" in t ? parseMix(t.mix) : "Q4_K_M",
    ...(opts.measureKl ? { measured: measurePlanAndMixes(src, p, opts.measureKl, imatrix) } : {}),
  };
}

/** Whole-assignment KL of the plan and of every mix it was compared with, on the same tokens. */
function measurePlanAndMixes(src: TensorSource, p: PlanResult, text: KlText, imatrix: Imatrix | undefined): MeasuredKl[] {
  const hx = klHarnessFor(src, text);
  const out: MeasuredKl[] = [{ name: "plan", bytes: p.fileBytes, kl: measureAssignmentKl(src, hx, planTypes(p), imatrix) }];
  for (const m of p.mixes) {
    // A mix with a type quantscope has no codec for cannot be measured either.
    const types = new Map(m.tensors.filter((a) => p.choices.some((c) => c.tensor === a.tensor)).map((a) => [a.tensor, a.type] as [string, string]));
    out.push({ name: m.mix, bytes: m.bytes, kl: m.klNote?.includes("not supported") ? NaN : measureAssignmentKl(src, hx, types, imatrix) });
  }
  return out;
}

/** The llama-quantize command that builds the plan from its tensor-type file. */
export function llamaQuantizeCommand(planned: PlannedModel, paths: { model: string; typesFile: string; imatrix?: string; out?: string }): string {
  return `llama-quantize ${paths.imatrix ? `--imatrix ${paths.imatrix} ` : ""}--tensor-type-file ${paths.typesFile} ${paths.model} ${paths.out ?? "out.gguf"} ${planned.ftype}`;
}
