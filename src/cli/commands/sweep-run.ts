// The actions of `quantscope sweep` and `quantscope plan` (loaded only when one of
// them runs: the sweep, forward pass and plan modules are heavy).
import { writeFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { QuantscopeError } from "../../io/errors.js";
import { openSource, readImatrix, type TensorSource } from "../../io/source.js";
import { DEFAULT_SWEEP_TYPES, type SweepOptions } from "../../analysis/sweep/sweep.js";
import { ActivationDir } from "../../analysis/sweep/activations.js";
import { parseMix } from "../../analysis/plan/mixes.js";
import { planCandidateTypes } from "../../analysis/plan/plan.js";
import { formatSweepJson, formatSweepText } from "../../report/sweep-text.js";
import { formatPlanJson, formatPlanText } from "../../report/plan-text.js";
import type { SweepResult } from "../../analysis/sweep/types.js";
import { expandPatterns, imatrixSha256, mergeShards, modelIdentity, parseShard, readSweepJson } from "../../analysis/sweep/shards.js";
import { calibrationFor, type KlText } from "../../pipeline/inputs.js";
import { sweepFile } from "../../pipeline/sweep.js";
import { llamaQuantizeCommand, planSweptModel, type PlanTarget } from "../../pipeline/plan.js";

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

/** --calib FILE, else the --imatrix file when it holds gradient statistics (then recorded as the sweep's calib). */
function calibOf(flags: CommonFlags) {
  const { calib, path } = calibrationFor(flags.calib, flags.imatrix);
  if (path) flags.calib = path;
  return calib;
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

async function runSweep(model: string, flags: CommonFlags, extra: Partial<SweepOptions> = {}, measureKl?: KlText): Promise<{ res: SweepResult; src: TensorSource }> {
  const opts = sweepOptions(flags);
  const bar = progress(flags.progress !== false);
  try {
    return await sweepFile(model, { ...opts, ...extra, onProgress: bar.onProgress }, {
      jobs: opts.jobs, imatrixPath: flags.imatrix, activationsPath: flags.activations, calibPath: flags.calib, measureKl,
    });
  } finally {
    bar.stop();
  }
}

/** "4125568", "4m", "3.9MiB", or an ftype name ("Q4_K_M": the size of llama-quantize's file for this model). */
function parseSize(s: string): PlanTarget {
  const m = /^([0-9]*\.?[0-9]+)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(s.trim());
  if (m) {
    const mul: Record<string, number> = { b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };
    return { bytes: Math.floor(Number(m[1]) * mul[(m[2] ?? "b").toLowerCase()]!) };
  }
  try {
    return { mix: parseMix(s) };
  } catch {
    throw new QuantscopeError(`--target-size: "${s}" is neither a size (e.g. 4125568, 3.9m) nor an ftype name (Q1_0 ... Q8_0, e.g. Q4_K_M)`);
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


export type SweepFlags = CommonFlags & { json?: boolean; flatten?: boolean; measureKl?: string; chunk?: string; klTokens?: string; shard?: string; output?: string };
export type PlanFlags = CommonFlags & { from?: string[]; targetBpw?: string; targetSize?: string; pin?: string[]; mixes?: string; compare?: string; emit?: string; output?: string; json?: boolean; measureKl?: string; chunk?: string; klTokens?: string; damage?: "predicted" | "measured" };

export async function sweepAction(model: string, flags: SweepFlags): Promise<void> {
  const extra: Partial<SweepOptions> = { flatten: flags.flatten ?? false, ...(flags.shard !== undefined ? { shard: parseShard(flags.shard) } : {}) };
  const chunk = parseIntFlag("--chunk", flags.chunk, 256, 2);
  const { res, src } = await runSweep(model, flags, extra, flags.measureKl ? { text: flags.measureKl, chunk, tokens: flags.klTokens } : undefined);
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
  let target: PlanTarget;
  if (flags.targetBpw !== undefined) {
    const bpw = Number(flags.targetBpw);
    if (!(bpw > 0 && bpw <= 32)) throw new QuantscopeError(`--target-bpw must be a number in (0, 32], got "${flags.targetBpw}"`);
    target = { bpw };
  } else {
    target = parseSize(flags.targetSize!);
  }
  const pins = parsePins(flags.pin);
  const compare = flags.compare ?? flags.mixes;
  const mixes = compare ? compare.split(",").map((m) => parseMix(m.trim())) : undefined;
  if (!flags.from) flags.types ??= planCandidateTypes(!!flags.imatrix).join(",");
  const { res, src } = flags.from ? sweepFromFiles(model, flags) : await runSweep(model!, flags);
  const hasImatrix = flags.from ? res.provenance!.options.imatrixSha256 !== null : !!flags.imatrix;
  try {
    const chunk = parseIntFlag("--chunk", flags.chunk, 256, 2);
    const planned = planSweptModel(src, res, {
      target, hasImatrix, imatrixPath: flags.imatrix, pins, mixes, damage: flags.damage,
      ...(flags.measureKl ? { measureKl: { text: flags.measureKl, chunk, tokens: flags.klTokens } } : {}),
    });
    const { plan: p, measured } = planned;
    const lines = planned.tensorTypes.join("\n") + "\n";
    process.stdout.write(flags.json ? formatPlanJson(measured ? { ...p, measured } : p) : formatPlanText(p, measured));
    if (flags.emit === "tensor-types") {
      if (flags.output) {
        writeFileSync(flags.output, lines);
        const imatrix = flags.imatrix ?? res.imatrix ?? undefined;
        process.stderr.write(`wrote ${p.choices.length} tensor types to ${flags.output}; use: ${llamaQuantizeCommand(planned, { model: src.path, typesFile: flags.output, imatrix })}\n`);
      } else if (!flags.json) {
        process.stdout.write("\n" + lines);
      }
    }
  } finally {
    src.close();
  }
}
