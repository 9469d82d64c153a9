// The actions of `quantscope sweep` and `quantscope plan` (loaded only when one of
// them runs: the sweep, forward pass and plan modules are heavy).
import { writeFileSync, statSync } from "node:fs";
import cliProgress from "cli-progress";
import { QuantscopeError } from "../../io/errors.js";
import { openSource, readImatrix, type TensorSource } from "../../io/source.js";
import { DEFAULT_SWEEP_TYPES, type SweepOptions } from "../../analysis/sweep.js";
import { sweepParallel } from "../../analysis/sweep-parallel.js";
import { ActivationDir } from "../../analysis/sweep-activations.js";
import { loadForwardModel } from "../../analysis/forward/model.js";
import { prepareKl } from "../../analysis/forward/kl.js";
import { parseTokenWindow, readTokenWindow } from "../../analysis/forward/tokens.js";
import { HEADLINE_MIXES, mixModelFromSource, parseMix, standardMix } from "../../analysis/mixes.js";
import { plan, planTypes, tensorTypeLines } from "../../analysis/plan.js";
import { measureAssignmentKl } from "../../analysis/plan-validate.js";
import { formatSweepJson, formatSweepText } from "../../report/sweep-text.js";
import { formatPlanJson, formatPlanText, type MeasuredKl } from "../../report/plan-text.js";
import type { SweepResult } from "../../analysis/sweep-types.js";

export interface CommonFlags {
  types?: string;
  imatrix?: string;
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
  };
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
      model, imatrix: flags.imatrix, activations: flags.activations, jobs: opts.jobs,
    });
    return { res, src };
  } finally {
    bar.stop();
  }
}

/** "4125568", "4m", "3.9MiB", or a standard mix name ("Q4_K_M": its size on this model). */
function parseSize(s: string, src: TensorSource, overhead: number): number {
  const m = /^([0-9]*\.?[0-9]+)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(s.trim());
  if (m) {
    const mul: Record<string, number> = { b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };
    return Math.floor(Number(m[1]) * mul[(m[2] ?? "b").toLowerCase()]!);
  }
  try {
    const mix = parseMix(s);
    const mm = mixModelFromSource(src);
    const shapes = new Map(mm.tensors.map((t) => [t.name, t.shape]));
    let bytes = overhead;
    for (const a of standardMix(mix, mm)) {
      const n = shapes.get(a.tensor)!.reduce((x, y) => x * y, 1);
      const info = src.tensors().find((t) => t.name === a.tensor)!;
      bytes += typeBytes(a.type, n, info.byteSize);
    }
    return bytes;
  } catch (e) {
    if (e instanceof QuantscopeError) throw new QuantscopeError(`--target-size: "${s}" is neither a size (e.g. 4125568, 3.9m) nor a standard mix name`);
    throw e;
  }
}

function typeBytes(type: string, n: number, fallback: number): number {
  const table: Record<string, [number, number]> = {
    F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q8_0: [32, 34],
    Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210],
  };
  const t = table[type];
  return t ? (n / t[0]) * t[1] : fallback;
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


export type SweepFlags = CommonFlags & { json?: boolean; flatten?: boolean; measureKl?: string; chunk?: string; klTokens?: string };
export type PlanFlags = CommonFlags & { targetBpw?: string; targetSize?: string; pin?: string[]; mixes?: string; emit?: string; output?: string; json?: boolean; measureKl?: string; chunk?: string; klTokens?: string };

export async function sweepAction(model: string, flags: SweepFlags): Promise<void> {
  const extra: Partial<SweepOptions> = { flatten: flags.flatten ?? false };
  if (flags.measureKl) {
    if (flags.sample) throw new QuantscopeError("--measure-kl needs an exact sweep (drop --sample)");
    const src0 = openSource(model);
    try {
      const fm = loadForwardModel(src0);
      const chunk = parseIntFlag("--chunk", flags.chunk, 256, 2);
      const toks = readTokenWindow(flags.measureKl, fm.config.vocab, parseTokenWindow(flags.klTokens));
      (extra as { kl?: unknown }).kl = prepareKl(fm, toks, chunk);
    } finally {
      src0.close();
    }
    flags.jobs = "1"; // the harness lives in this thread
  }
  const { res, src } = await runSweep(model, flags, extra);
  src.close();
  process.stdout.write(flags.json ? formatSweepJson(res) : formatSweepText(res));
}

export async function planAction(model: string, flags: PlanFlags): Promise<void> {
  if ((flags.targetBpw === undefined) === (flags.targetSize === undefined)) {
    throw new QuantscopeError("plan needs exactly one of --target-bpw X or --target-size BYTES");
  }
  let targetBpw: number | undefined;
  if (flags.targetBpw !== undefined) {
    targetBpw = Number(flags.targetBpw);
    if (!(targetBpw > 0 && targetBpw <= 32)) throw new QuantscopeError(`--target-bpw must be a number in (0, 32], got "${flags.targetBpw}"`);
  }
  const pins = parsePins(flags.pin);
  const mixes = (flags.mixes ? flags.mixes.split(",") : [...HEADLINE_MIXES]).map((m) => parseMix(m.trim()));
  const { res, src } = await runSweep(model, flags);
  try {
    const overhead = overheadOf(src);
    const p = plan(res, {
      targetBpw,
      targetSize: flags.targetSize !== undefined ? parseSize(flags.targetSize, src, overhead) : undefined,
      overheadBytes: overhead,
      pins,
      hasImatrix: !!flags.imatrix,
      mixModel: mixModelFromSource(src),
      mixes,
    });
    const lines = tensorTypeLines(p).join("\n") + "\n";
    let measured: MeasuredKl[] | undefined;
    if (flags.measureKl) {
      const fm = loadForwardModel(src);
      const toks = readTokenWindow(flags.measureKl, fm.config.vocab, parseTokenWindow(flags.klTokens));
      const hx = prepareKl(fm, toks, parseIntFlag("--chunk", flags.chunk, 256, 2));
      const im = flags.imatrix ? readImatrix(flags.imatrix) : undefined;
      const mm = mixModelFromSource(src);
      measured = [{ name: "plan", bytes: p.fileBytes, kl: measureAssignmentKl(src, hx, planTypes(p), im) }];
      for (const m of p.mixes) {
        const types = new Map(standardMix(m.mix, mm).filter((a) => p.choices.some((c) => c.tensor === a.tensor)).map((a) => [a.tensor, a.type] as [string, string]));
        measured.push({ name: m.mix, bytes: m.bytes, kl: measureAssignmentKl(src, hx, types, im) });
      }
    }
    process.stdout.write(flags.json ? formatPlanJson(measured ? { ...p, measured } : p) : formatPlanText(p, measured));
    if (flags.emit === "tensor-types") {
      if (flags.output) {
        writeFileSync(flags.output, lines);
        process.stderr.write(`wrote ${p.choices.length} tensor types to ${flags.output}; use: llama-quantize ${flags.imatrix ? `--imatrix ${flags.imatrix} ` : ""}--tensor-type-file ${flags.output} ${model} out.gguf Q4_K_M\n`);
      } else if (!flags.json) {
        process.stdout.write("\n" + lines);
      }
    }
  } finally {
    src.close();
  }
}
