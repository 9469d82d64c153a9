// `quantscope mix MODEL FTYPE`: the per-tensor types and sizes llama-quantize
// would write. Options and help only; the work is imported when the command runs.
import type { Command } from "commander";

export interface MixFlags {
  imatrix?: string;
  json?: boolean;
}

export function registerMix(program: Command): void {
  program
    .command("mix")
    .description("the per-tensor types and bytes llama-quantize chooses for an ftype (Q4_K_M, IQ2_XXS, ...), the total, bpw and file size")
    .argument("<model>", "GGUF / safetensors model")
    .argument("<ftype>", "llama-quantize ftype: Q1_0 ... Q8_0, IQ1_S ... IQ4_XS, TQ1_0, TQ2_0, MXFP4_MOE (Q3_K/Q4_K/Q5_K: the _M mixes)")
    .option("--imatrix <file>", "the imatrix llama-quantize will get: some rules depend on it, and it adds quantize.imatrix.* keys to the file")
    .option("--json", "JSON: {tensor, type, bytes} per tensor, plus totals")
    .action(async (model: string, ftype: string, flags: MixFlags) => {
      const [{ parseMix }, { openSource, readImatrix }, { summarizeMix }, { imatrixKv }, { formatMixJson, formatMixText }] = await Promise.all([
        import("../../analysis/plan/mixes.js"), import("../../io/source.js"), import("../../analysis/plan/mix-summary.js"),
        import("../../analysis/plan/mix-size.js"), import("../../report/mix-text.js"),
      ]);
      parseMix(ftype); // an unknown ftype fails before the model is opened
      const imatrix = flags.imatrix ? imatrixKv(flags.imatrix, readImatrix(flags.imatrix)) : undefined;
      const src = openSource(model);
      try {
        const m = summarizeMix(src, ftype, { imatrix });
        process.stdout.write(flags.json ? formatMixJson(m) : formatMixText(m));
      } finally {
        src.close();
      }
    });
}
