// `quantscope sweep` and `quantscope plan`: options and help only; the actions
// live in sweep-run.ts, imported when one of these commands runs.
import type { Command } from "commander";
import { Option } from "commander";
import { DEFAULT_SWEEP_TYPES } from "../../analysis/sweep/types.js";
import type { PlanFlags, SweepFlags } from "./sweep-run.js";

function addCommon(cmd: Command): Command {
  return cmd
    .option("--types <list>", `candidate types, comma separated (sweep default ${DEFAULT_SWEEP_TYPES.join(",")}; plan default: every type with a codec, imatrix-only ones with --imatrix)`)
    .option("--imatrix <file>", "llama-imatrix output (.gguf or .dat): used by the quantizer and for activation-aware errors")
    .option("--calib <file>", "calibration statistics from quantscope calibrate: predKL from them (source calib), the quantizer does not use them")
    .option("--activations <dir>", "folder of f32bin activations (act_blkN_<input>.f32bin or <tensor>.f32bin)")
    .option("--tensors <regex>", "only tensors whose name matches")
    .option("--sample <fraction>", "quantize a seeded random fraction of rows; estimates get 95 % CIs")
    .option("--seed <n>", "seed for --sample (default 1)")
    .option("-j, --jobs <n>", "worker threads (default 2)")
    .option("--no-progress", "no progress bar");
}

export function registerSweep(program: Command): void {
  addCommon(
    program
      .command("sweep")
      .description("quantize every 2-D weight tensor to every candidate type: errors, activation-aware errors, predicted KL")
      .argument("<model>", "GGUF / safetensors model (or study folder)"),
  )
    .option("--json", "JSON output: one record per (tensor, type)")
    .option("--flatten", "quantize-stats mode: each tensor as one flat row, no fallbacks (for comparing with llama.cpp's test-quantize-stats)")
    .option("--measure-kl <tokens>", "also measure the real single-tensor KL with the reference forward pass on these tokens: a text file (tokenized with the model's tokenizer, BOS at each chunk start) or raw int32 ids (.i32)")
    .option("--chunk <n>", "context length for --measure-kl (default 256)")
    .option("--kl-tokens <n|start:count>", "tokens for --measure-kl: the first n (at most; default 512) or the window start..start+count-1")
    .option("--shard <K/N>", "measure only part K of N (size-balanced, deterministic); merge the parts with plan --from")
    .option("-o, --output <file>", "write the result to this file instead of stdout")
    .action(async (model: string, flags: SweepFlags) => (await import("./sweep-run.js")).sweepAction(model, flags));

  addCommon(
    program
      .command("plan")
      .description("choose one type per tensor minimising the predicted KL under a size budget")
      .argument("[model]", "GGUF / safetensors model (with --from: defaults to the model the shards recorded)"),
  )
    .option("--from <sweep.json...>", "plan from saved sweep JSON files (the shards of sweep --shard K/N --json; quote globs: 'sweep-*.json') instead of sweeping")
    .option("--target-bpw <x>", "bits per weight over all tensors")
    .option("--target-size <bytes>", "file size: bytes, k/m/g (KiB/MiB/GiB), or a llama-quantize ftype (e.g. Q4_K_M = the size of its file for this model)")
    .option("--pin <name=type...>", "force a type, e.g. --pin token_embd=Q4_K --pin output=Q6_K (name or kind)")
    .option("--compare <list>", "llama-quantize ftypes to compare with, e.g. Q4_K_M,IQ4_XS (default: the 2 just below and the 2 just above the target size, among all 32)")
    .addOption(new Option("--mixes <list>", "old name of --compare").hideHelp())
    .addOption(new Option("--emit <what>", "write a file for llama-quantize").choices(["tensor-types"]))
    .option("-o, --output <file>", "file for --emit (default: stdout after the table)")
    .option("--json", "JSON output")
    .addOption(new Option("--damage <source>", "what the plan minimises: the predicted KL, or the single-tensor KL measured by sweep --measure-kl (plan --from its JSON); default: per tensor, measured where the sweep measured every candidate").choices(["predicted", "measured"]))
    .option("--measure-kl <tokens>", "also measure the plan's and the mixes' real KL with the reference forward pass: a text file or raw int32 ids (.i32)")
    .option("--chunk <n>", "context length for --measure-kl (default 256)")
    .option("--kl-tokens <n|start:count>", "tokens for --measure-kl: the first n (at most; default 512) or the window start..start+count-1")
    .action(async (model: string | undefined, flags: PlanFlags) => (await import("./sweep-run.js")).planAction(model, flags));
}
