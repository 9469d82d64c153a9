// `quantscope calibrate`: options, help and action (the work is loaded when the command runs).
import type { Command } from "commander";

export interface CalibrateFlags {
  file: string;
  ctx?: string;
  chunks?: string;
  samples?: string;
  seed?: string;
  output?: string;
  jobs?: string;
  progress: boolean;
}

export function registerCalibrate(program: Command): void {
  program
    .command("calibrate")
    .description("calibration statistics for predicted KL: llama-imatrix's in_sum2/counts plus per-row output-gradient energies (Fisher diagonal) from a forward + backward pass; the GGUF is also a valid imatrix for llama-quantize (docs/sensitivity.md)")
    .argument("<model>", "GGUF model (llama, qwen2, qwen3, qwen3moe)")
    .requiredOption("-f, --file <text>", "calibration text (UTF-8)")
    .option("-c, --ctx <n>", "tokens per chunk (default 512)")
    .option("--chunks <n>", "use at most this many chunks (default: all whole chunks)")
    .option("--samples <n>", "backward passes per chunk, each with labels drawn from the model's own distribution (default 1)")
    .option("--seed <n>", "seed of the label sampler (default 1)")
    .option("-o, --output <file>", "output file (default calib.gguf)")
    .option("-j, --jobs <n>", "worker threads, each computing whole chunks (default 2)")
    .option("--no-progress", "no progress line")
    .action(async (model: string, flags: CalibrateFlags) => (await import("./calibrate-run.js")).runCalibrate(model, flags));
}
