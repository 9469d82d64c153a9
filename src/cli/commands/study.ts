// quantscope study DIR: the nine-section study (wiring only).
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";
import { quantizerFor, proxyQuantizer } from "../../analysis/study/group-quantizer.js";
import { folderSources, runStudyParallel, type StudySources } from "../../analysis/study/study.js";
import { activationKeyForKind, weightKey, WEIGHTS, ACTIVATIONS } from "../../analysis/study/layout.js";
import { formatStudySeed } from "../../report/study-seed-text.js";
import { formatStudyText } from "../../report/study-text.js";
import { formatStudyJson } from "../../report/study-json.js";

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

function splitPair(flag: string, v: string): [string, string] {
  const i = v.indexOf("=");
  if (i <= 0 || i === v.length - 1) throw new QuantscopeError(`${flag} expects NAME=PATH, got "${v}"`);
  return [v.slice(0, i), v.slice(i + 1)];
}

interface StudyFlags {
  type: string;
  seedCompat?: boolean;
  json?: boolean;
  weight: string[];
  activation: string[];
}

/** Folder layout, explicit files, or both (explicit files replace the folder's file of the same key). */
export function studySources(dir: string | undefined, flags: StudyFlags): StudySources {
  if (!dir && flags.weight.length === 0 && flags.activation.length === 0) {
    throw new QuantscopeError("study: give a DIR with the study's files, or --weight NAME=PATH / --activation KIND=PATH");
  }
  const base: StudySources = dir ? folderSources(dir) : { weights: [], activations: [] };
  const weights = [...base.weights];
  const activations = [...base.activations];
  for (const v of flags.weight) {
    const [name, path] = splitPair("--weight", v);
    const key = weightKey(name);
    const spec = WEIGHTS.find((w) => w.key === key);
    const src = { key, path, seedLabel: spec?.seedLabel ?? null, input: spec?.input ?? null };
    const i = weights.findIndex((w) => w.key === key);
    if (i >= 0) weights[i] = src; else weights.push(src);
  }
  for (const v of flags.activation) {
    const [kind, path] = splitPair("--activation", v);
    const key = activationKeyForKind(kind);
    if (!ACTIVATIONS.some((a) => a.key === key)) {
      throw new QuantscopeError(`--activation: unknown kind "${kind}" (known: ${ACTIVATIONS.map((a) => a.kind).join(", ")})`);
    }
    const i = activations.findIndex((a) => a.key === key);
    if (i >= 0) activations[i] = { key, path }; else activations.push({ key, path });
  }
  return { weights, activations };
}

export function registerStudy(program: Command): void {
  program
    .command("study")
    .description("the original nine-section study: why a tensor is hard to quantize (every row by default)")
    .argument("[dir]", "folder with blk_0_*_weight.f32bin and act_blk0_*.f32bin files")
    .option("--type <type>", "group quantizer for sections 3, 6, 9: proxy or a ggml type name", "q2_k")
    .option("--seed-compat", "reproduce the original study exactly (its subsampling, proxy and report)")
    .option("--json", "print the result as JSON (schema: docs/study-json.md)")
    .option("--weight <name=path>", "add or replace a weight file (repeatable), e.g. ffn_down=W.f32bin", collect, [])
    .option("--activation <kind=path>", "add or replace an activation file (repeatable), e.g. ffn_down_input=A.f32bin", collect, [])
    .action(async (dir: string | undefined, flags: StudyFlags) => {
      const sources = studySources(dir, flags);
      const quantizer = flags.seedCompat ? proxyQuantizer() : quantizerFor(flags.type);
      // A closed pipe (e.g. `| head`) ends the output quietly.
      process.stdout.on("error", (e: NodeJS.ErrnoException) => { if (e.code === "EPIPE") process.exit(0); throw e; });
      const result = await runStudyParallel(sources, { seedCompat: !!flags.seedCompat, quantizer });
      for (const i of result.inputs) if (i.note) process.stderr.write(`quantscope: note: ${i.note}\n`);
      for (const w of result.warnings) process.stderr.write(`quantscope: warning: ${w}\n`);
      if (flags.json) process.stdout.write(formatStudyJson(result));
      else process.stdout.write(flags.seedCompat ? formatStudySeed(result) : formatStudyText(result));
    });
}
