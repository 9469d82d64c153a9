// The actions of `quantscope sweep` and `quantscope plan` (loaded only when one of
// them runs: the sweep, forward pass and plan modules are heavy).
import { writeFileSync, statSync } from "node:fs";
import cliProgress from "cli-progress";
import { QuantscopeError } from "../../io/errors.js";
import { openSource, readImatrix, type TensorSource } from "../../io/source.js";
import { DEFAULT_SWEEP_TYPES, type SweepOptions } from "../../analysis/sweep/sweep.js";
import { sweepParallel } from "../../analysis/sweep/parallel.js";
import { ActivationDir } from "../../analysis/sweep/activations.js";
import { loadForwardModel } from "../../model/forward/model.js";
import { prepareKl } from "../../model/forward/kl.js";
import { parseTokenWindow } from "../../model/forward/tokens.js";
import { measurementTokens } from "../../model/measure/tokens-input.js";
import { mixModelFromSource, parseMix } from "../../analysis/plan/mixes.js";
import { plan, planCandidateTypes, planTypes, tensorTypeLines } from "../../analysis/plan/plan.js";
import { sizeMix } from "../../analysis/plan/mix-menu.js";
import { imatrixKv, quantizedFileSize, quantizedLayout } from "../../analysis/plan/mix-size.js";
import { GgufSource } from "../../io/gguf.js";
import { measureAssignmentKl } from "../../analysis/plan/validate.js";
import { formatSweepJson, formatSweepText } from "../../report/sweep-text.js";
import { formatPlanJson, formatPlanText, type MeasuredKl } from "../../report/plan-text.js";
import type { SweepResult } from "../../analysis/sweep/types.js";
import { expandPatterns, imatrixSha256, mergeShards, modelIdentity, parseShard, readSweepJson } from "../../analysis/sweep/shards.js";
import { readCalib } from "../../model/calibrate/calib-file.js";
import { predSourceNote } from "../../model/calibrate/predict.js";

export interface CommonFlags {
  types?: string;
  imatrix?: string;
  /** Calibration statistics for predKL (quantscope calibrate); defaults to --imatrix when that file has them. */
  calib?: string;
  activations?: string;
  tensors?: string;
  sample?: string;
  seed?: string;
  jobs?: string;
  progress?: boolean;
}

function parseFraction(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const f = Number(s);
  if (!(f > 0 && f <= 1)) throw new QuantscopeError(`--sample must be a fraction in (0, 1], got "${s}"`);
  return f;
}

function parseIntFlag(name: string, s: string | undefined, dflt: number, min = 1): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new QuantscopeError(`${name} must be an integer >= ${min}, got "${s}"`);
  return n;
}

function parseRegex(s: string | undefined): RegExp | undefined {
  if (s === undefined) return undefined;
  try {
    return new RegExp(s);
  } catch (e) {
    throw new QuantscopeError(`--tensors: invalid regular expression "${s}" (${(e as Error).message})`);
  }
}

function sweepOptions(flags: CommonFlags): SweepOptions & { jobs: number } {
  const types = flags.types ? flags.types.split(",").map((t) => t.trim()).filter(Boolean) : [...DEFAULT_SWEEP_TYPES];
  return {
    types,
    imatrix: flags.imatrix ? readImatrix(flags.imatrix) : undefined,
    activations: flags.activations ? new ActivationDir(flags.activations) : undefined,
    tensors: parseRegex(flags.tensors),
    sample: parseFraction(flags.sample),
    seed: parseIntFlag("--seed", flags.seed, 1, 0),
    jobs: parseIntFlag("--jobs", flags.jobs, 2),
    calib: calibOf(flags),
  };
}

/** --calib FILE (must hold gradient statistics), else the --imatrix file when it has them. */
function calibOf(flags: CommonFlags) {
  if (flags.calib) {
    const c = readCalib(flags.calib);
    if (!c) throw new QuantscopeError(`${flags.calib}: --calib needs a file from quantscope calibrate (this one has no <name>.out_grad2 gradient statistics)`);
    return c;
  }
  if (flags.imatrix && !flags.imatrix.endsWith(".dat")) {
    const c = readCalib(flags.imatrix);
    if (c) flags.calib = flags.imatrix;
    return c ?? undefined;
  }
  return undefined;
}

/** A cli-progress bar on stderr when it is a terminal, silent otherwise. */
function progress(enabled: boolean): { onProgress?: SweepOptions["onProgress"]; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: "sweep [{bar}] {value}/{total} {label} eta {eta}s", hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (done, total, label) => {
      if (!started) { bar.start(total, 0, { label }); started = true; }
      bar.update(done, { label });
    },
    stop: () => { if (started) bar.stop(); },
  };
}

async function runSweep(model: string, flags: CommonFlags, extra: Partial<SweepOptions> = {}): Promise<{ res: SweepResult; src: TensorSource }> {
  const opts = sweepOptions(flags);
  const src = openSource(model);
  const bar = progress(flags.progress !== false);
  try {
    const res = await sweepParallel(src, { ...opts, ...extra, onProgress: bar.onProgress }, {
      model, imatrix: flags.imatrix, activations: flags.activations, jobs: opts.jobs, calib: flags.calib,
    });
    return { res, src };
  } finally {
    bar.stop();
  }
}

/** "4125568", "4m", "3.9MiB", or an ftype name ("Q4_K_M": the size of llama-quantize's file for this model). */
function parseSize(s: string, src: TensorSource, sizing: FileSizing, hasImatrix: boolean): number {
  const m = /^([0-9]*\.?[0-9]+)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(s.trim());
  if (m) {
    const mul: Record<string, number> = { b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };
    return Math.floor(Number(m[1]) * mul[(m[2] ?? "b").toLowerCase()]!);
  }
  let mix: string;
  try {
    mix = parseMix(s);
  } catch {
    throw new QuantscopeError(`--target-size: "${s}" is neither a size (e.g. 4125568, 3.9m) nor an ftype name (Q1_0 ... Q8_0, e.g. Q4_K_M)`);
  }
  return sizeMix(mix, mixModelFromSource(src), { hasImatrix, ...sizing }).fileBytes;
}

/**
 * The ftype to name in the llama-quantize line: the one whose size was the target, else Q4_K_M. Every
 * quantized tensor has a rule in the file, so it only sets the file's general.file_type.
 */
function suggestedFtype(targetSize: string | undefined): string {
  if (targetSize === undefined || /^[0-9.]/.test(targetSize.trim())) return "Q4_K_M";
  try { return parseMix(targetSize); } catch { return "Q4_K_M"; }
}

/** How a quantized file's size follows from its tensors' bytes: exact from a GGUF source's header, else bytes + overhead. */
interface FileSizing {
  readonly overheadBytes: number;
  readonly fileSize?: (tensorBytes: readonly number[]) => number;
  readonly alignment?: number;
}

function fileSizing(src: TensorSource, imatrixPath: string | undefined): FileSizing {
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

function parsePins(list: string[] | undefined): Map<string, string> {
  const pins = new Map<string, string>();
  for (const p of list ?? []) {
    const i = p.indexOf("=");
    if (i <= 0 || i === p.length - 1) throw new QuantscopeError(`--pin expects NAME=TYPE (e.g. token_embd=Q4_K), got "${p}"`);
    pins.set(p.slice(0, i), p.slice(i + 1).toUpperCase());
  }
  return pins;
}


/** --measure-kl runs the forward pass: a folder of loose tensors (even with model.json) is not a model. */
function wholeModel(src: TensorSource): void {
  if (src.format === "study-dir" || src.format === "f32bin" || src.format === "npy") {
    throw new QuantscopeError(`--measure-kl: ${src.path} holds loose tensors, the forward pass needs the whole model (GGUF or safetensors); for a study folder use report --model MODEL.gguf --measure-kl TEXT`);
  }
}

export type SweepFlags = CommonFlags & { json?: boolean; flatten?: boolean; measureKl?: string; chunk?: string; klTokens?: string; shard?: string; output?: string };
export type PlanFlags = CommonFlags & { from?: string[]; targetBpw?: string; targetSize?: string; pin?: string[]; mixes?: string; compare?: string; emit?: string; output?: string; json?: boolean; measureKl?: string; chunk?: string; klTokens?: string; damage?: "predicted" | "measured" };

export async function sweepAction(model: string, flags: SweepFlags): Promise<void> {
  const extra: Partial<SweepOptions> = { flatten: flags.flatten ?? false, ...(flags.shard !== undefined ? { shard: parseShard(flags.shard) } : {}) };
  if (flags.measureKl) {
    if (flags.sample) throw new QuantscopeError("--measure-kl needs an exact sweep (drop --sample)");
    const src0 = openSource(model);
    try {
      wholeModel(src0);
      const fm = loadForwardModel(src0);
      const chunk = parseIntFlag("--chunk", flags.chunk, 256, 2);
      const toks = measurementTokens(flags.measureKl, model, fm.config.vocab, parseTokenWindow(flags.klTokens), chunk);
      (extra as { kl?: unknown }).kl = prepareKl(fm, toks, chunk);
    } finally {
      src0.close();
    }
    flags.jobs = "1"; // the harness lives in this thread
  }
  const { res, src } = await runSweep(model, flags, extra);
  src.close();
  const text = flags.json ? formatSweepJson(res) : formatSweepText(res);
  if (flags.output) {
    writeFileSync(flags.output, text);
    const sh = res.shard && res.shard.count > 1 ? ` (shard ${res.shard.index}/${res.shard.count}: ${res.shard.tensors.length} of ${res.shard.all.length} tensors)` : "";
    process.stderr.write(`wrote ${res.records.length} records${sh} to ${flags.output}\n`);
  } else {
    process.stdout.write(text);
  }
}

/** The merged sweep of `plan --from FILES` and the model it was run on (opened, identity checked). */
function sweepFromFiles(model: string | undefined, flags: PlanFlags): { res: SweepResult; src: TensorSource } {
  for (const f of ["types", "activations", "tensors", "sample", "seed"] as const) {
    if (flags[f] !== undefined) throw new QuantscopeError(`plan --from: --${f} comes from the sweep files; drop it`);
  }
  const parts = expandPatterns(flags.from!).map((path) => ({ path, res: readSweepJson(path) }));
  const path = model ?? parts[0]!.res.provenance!.model.path;
  const src = openSource(path);
  try {
    const res = mergeShards(parts, modelIdentity(src));
    if (flags.imatrix && imatrixSha256(readImatrix(flags.imatrix)) !== res.provenance!.options.imatrixSha256) {
      throw new QuantscopeError(`${flags.imatrix}: not the imatrix the sweep files were measured with`);
    }
    return { res, src };
  } catch (e) {
    src.close();
    throw e;
  }
}

export async function planAction(model: string | undefined, flags: PlanFlags): Promise<void> {
  if (model === undefined && !flags.from) throw new QuantscopeError("plan needs a MODEL (or --from sweep files)");
  if ((flags.targetBpw === undefined) === (flags.targetSize === undefined)) {
    throw new QuantscopeError("plan needs exactly one of --target-bpw X or --target-size BYTES");
  }
  let targetBpw: number | undefined;
  if (flags.targetBpw !== undefined) {
    targetBpw = Number(flags.targetBpw);
    if (!(targetBpw > 0 && targetBpw <= 32)) throw new QuantscopeError(`--target-bpw must be a number in (0, 32], got "${flags.targetBpw}"`);
  }
  const pins = parsePins(flags.pin);
  const compare = flags.compare ?? flags.mixes;
  const mixes = compare ? compare.split(",").map((m) => parseMix(m.trim())) : undefined;
  if (!flags.from) flags.types ??= planCandidateTypes(!!flags.imatrix).join(",");
  const { res, src } = flags.from ? sweepFromFiles(model, flags) : await runSweep(model!, flags);
  const hasImatrix = flags.from ? res.provenance!.options.imatrixSha256 !== null : !!flags.imatrix;
  try {
    const sizing = fileSizing(src, flags.imatrix);
    const p = plan(res, {
      targetBpw,
      targetSize: flags.targetSize !== undefined ? parseSize(flags.targetSize, src, sizing, !!flags.imatrix) : undefined,
      overheadBytes: sizing.overheadBytes,
      fileSize: sizing.fileSize,
      alignment: sizing.alignment,
      pins,
      hasImatrix,
      mixModel: mixModelFromSource(src),
      mixes,
      damage: flags.damage,
    });
    const pred = predSourceNote(res.records);
    // the predictions' source matters only where the plan used them (not where it used measured KL)
    if (pred && !p.choices.every((c) => c.source === "measured")) (p.notes as string[]).push(pred);
    const lines = tensorTypeLines(p).join("\n") + "\n";
    let measured: MeasuredKl[] | undefined;
    if (flags.measureKl) {
      wholeModel(src);
      const fm = loadForwardModel(src);
      const chunk = parseIntFlag("--chunk", flags.chunk, 256, 2);
      const toks = measurementTokens(flags.measureKl, src.path, fm.config.vocab, parseTokenWindow(flags.klTokens), chunk);
      const hx = prepareKl(fm, toks, chunk);
      const im = flags.imatrix ? readImatrix(flags.imatrix) : undefined;
      measured = [{ name: "plan", bytes: p.fileBytes, kl: measureAssignmentKl(src, hx, planTypes(p), im) }];
      for (const m of p.mixes) {
        // A mix with a type quantscope has no codec for cannot be measured either.
        const types = new Map(m.tensors.filter((a) => p.choices.some((c) => c.tensor === a.tensor)).map((a) => [a.tensor, a.type] as [string, string]));
        measured.push({ name: m.mix, bytes: m.bytes, kl: m.klNote?.includes("not supported") ? NaN : measureAssignmentKl(src, hx, types, im) });
      }
    }
    process.stdout.write(flags.json ? formatPlanJson(measured ? { ...p, measured } : p) : formatPlanText(p, measured));
    if (flags.emit === "tensor-types") {
      if (flags.output) {
        writeFileSync(flags.output, lines);
        process.stderr.write(`wrote ${p.choices.length} tensor types to ${flags.output}; use: llama-quantize ${flags.imatrix ?? res.imatrix ? `--imatrix ${flags.imatrix ?? res.imatrix} ` : ""}--tensor-type-file ${flags.output} ${src.path} out.gguf ${suggestedFtype(flags.targetSize)}\n`);
      } else if (!flags.json) {
        process.stdout.write("\n" + lines);
      }
    }
  } finally {
    src.close();
  }
}
