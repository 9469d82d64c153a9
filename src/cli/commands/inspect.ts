// `quantscope inspect FILE` and `quantscope dump FILE --tensor NAME --out PATH`.
import type { Command } from "commander";
import { statSync } from "node:fs";
import { openSource, readImatrix } from "../../io/source.js";
import { looksLikeImatrix } from "../../io/imatrix.js";
import { summarizeImatrix, summarizeModel, metadataForDisplay } from "../../io/summary.js";
import { dumpTensor } from "../../io/dump.js";
import { QuantscopeError } from "../../io/errors.js";
import { imatrixStatistics } from "../../analysis/imatrix/stats.js";
import { formatImatrixSummary, formatMetadata, formatModelSummary } from "../../report/inspect-text.js";

function fileBytes(path: string): number {
  try {
    const s = statSync(path);
    return s.isFile() ? s.size : 0;
  } catch {
    return 0;
  }
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("Show a model's (GGUF, safetensors, npy, f32bin, study folder) or an imatrix's contents: metadata, tensor table, bits per weight; for an imatrix, llama-imatrix's --show-statistics")
    .argument("<file>", "model file or folder, or an imatrix (.gguf / .dat)")
    .option("--json", "print JSON instead of text")
    .option("--metadata", "also print every metadata key (long arrays abbreviated)")
    .option("--no-stats", "imatrix: skip the --show-statistics table")
    .action((file: string, opts: { json?: boolean; metadata?: boolean; stats: boolean }) => {
      if (!statSync(file, { throwIfNoEntry: false })?.isDirectory() && fileBytes(file) > 0 && looksLikeImatrix(file)) {
        const im = readImatrix(file);
        const summary = summarizeImatrix(im);
        const stats = opts.stats ? imatrixStatistics(im) : undefined;
        if (opts.json) process.stdout.write(JSON.stringify({ kind: "imatrix", ...summary, statistics: stats }, null, 2) + "\n");
        else process.stdout.write(formatImatrixSummary(summary, stats, file));
        return;
      }
      const src = openSource(file);
      try {
        const summary = summarizeModel(src, fileBytes(file));
        const metadata = metadataForDisplay(src.metadata);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ kind: "model", ...summary, metadata }, null, 2) + "\n");
        } else {
          process.stdout.write(formatModelSummary(summary));
          if (opts.metadata) process.stdout.write(formatMetadata(metadata));
        }
      } finally {
        src.close();
      }
    });

  program
    .command("dump")
    .description("Write one tensor, dequantized to float32, as .f32bin or .npy")
    .argument("<file>", "model file or folder")
    .requiredOption("--tensor <name>", "tensor name (GGUF name, or the file's own name)")
    .requiredOption("--out <path>", "output file, ending in .f32bin or .npy")
    .option("--expert <E>", "only expert E (0-based) of a 3-D MoE expert tensor: its rows x cols slice")
    .action((file: string, opts: { tensor: string; out: string; expert?: string }) => {
      let expert: number | undefined;
      if (opts.expert !== undefined) {
        expert = Number(opts.expert);
        if (!/^\d+$/.test(opts.expert) || !Number.isSafeInteger(expert)) throw new QuantscopeError(`--expert must be a non-negative integer, got "${opts.expert}"`);
      }
      const src = openSource(file);
      try {
        const r = dumpTensor(src, opts.tensor, opts.out, expert);
        process.stdout.write(`${opts.out}: ${r.rows} x ${r.cols} float32 (${r.bytes} bytes)\n`);
      } finally {
        src.close();
      }
    });
}
