// `quantscope imatrix` and `quantscope eval`: options and help; the work is in
// src/model/measure, loaded when one of these commands runs.
import { Option, type Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export interface MeasureFlags {
  file: string;
  ctx?: string;
  chunks?: string;
  progress: boolean;
  /** Hidden: force the streamed forward pass (default: by size). */
  stream?: boolean;
}

export interface ImatrixFlags extends MeasureFlags {
  output?: string;
  jobs?: string;
}

export interface EvalFlags extends MeasureFlags {
  base?: string;
  tensorTypes?: string;
  plan?: string;
  ftype?: string;
  imatrix?: string;
  json?: boolean;
  jobs?: string;
}

export function parseCount(flag: string, v: string | undefined, dflt: number | undefined): number | undefined {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new QuantscopeError(`${flag} must be a positive integer, got "${v}"`);
  return n;
}

/** Hidden (tests, measurements): --stream forces the one-layer-at-a-time pass below its size threshold. */
function streamOption(): Option {
  return new Option("--stream", "force the streamed forward pass").hideHelp();
}

export function registerMeasure(program: Command): void {
  program
    .command("imatrix")
    .description("importance matrix of a model on a text, as llama-imatrix computes and writes it (GGUF; llama-quantize --imatrix accepts it)")
    .argument("<model>", "model (llama, qwen2, qwen3, qwen3moe): GGUF, or safetensors with config.json and tokenizer.json beside it")
    .requiredOption("-f, --file <text>", "calibration text (UTF-8)")
    .option("-c, --ctx <n>", "tokens per chunk (llama-imatrix -c; default 512)")
    .option("--chunks <n>", "use at most this many chunks (default: all whole chunks)")
    .option("-o, --output <file>", "output file (default imatrix.gguf)")
    .option("-j, --jobs <n>", "worker threads, each computing whole chunks (default 2)")
    .option("--no-progress", "no progress line")
    .addOption(streamOption())
    .action(async (model: string, flags: ImatrixFlags) => (await import("./measure-run.js")).runImatrix(model, flags));
  program
    .command("eval")
    .description("perplexity on a text and, against a base model (or the model itself with simulated quantization), llama-perplexity's KL statistics")
    .argument("<model>", "model to evaluate: GGUF (any supported type), or safetensors with config.json and tokenizer.json beside it")
    .requiredOption("-f, --file <text>", "evaluation text (UTF-8)")
    .option("--base <model>", "reference model for KL (e.g. the F16 GGUF)")
    .option("--tensor-types <file>", "simulate this llama-quantize --tensor-type-file in memory (bit-exact codecs); the base is then the unquantized model")
    .option("--plan <plan.json>", "simulate the per-tensor types of a `quantscope plan --json` file, like --tensor-types")
    .option("--ftype <name>", "with --tensor-types/--plan: the llama-quantize ftype for tensors no rule matches (e.g. Q4_K_M)")
    .option("--imatrix <file>", "importance matrix the simulated quantization uses (as llama-quantize --imatrix)")
    .option("-c, --ctx <n>", "tokens per chunk (llama-perplexity -c; default 512)")
    .option("--chunks <n>", "use at most this many chunks (default: all)")
    .option("-j, --jobs <n>", "worker threads, each scoring whole chunks (default 2)")
    .option("--json", "JSON output")
    .option("--no-progress", "no progress line")
    .addOption(streamOption())
    .action(async (model: string, flags: EvalFlags) => (await import("./measure-run.js")).runEval(model, flags));
}
