// `quantscope report MODEL`: diagnosis in plain words, a single-file HTML
// report with charts, optionally Markdown with SVG/PNG charts beside it.
import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { QuantscopeError } from "../../io/errors.js";
import { DEFAULT_OUTPUT_TOKENS } from "../../analysis/diagnosis/defaults.js";
// The report's modules (vega, resvg, the sweep) are heavy: they are imported
// inside the action so that other commands start fast.

interface ReportFlags {
  imatrix?: string;
  calib?: string;
  activations?: string;
  tensors?: string;
  types?: string;
  tokens: string;
  out: string;
  md?: string;
  model?: string;
  measureKl?: string;
  chunk?: string;
  klTokens?: string;
}

function parseRegex(s: string): RegExp {
  try {
    return new RegExp(s);
  } catch (e) {
    throw new QuantscopeError(`--tensors: not a valid regular expression: ${(e as Error).message}`);
  }
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("Plain-language diagnosis of each weight tensor, with an interactive single-file HTML report (and Markdown)")
    .argument("<MODEL>", "model file (GGUF, ...) or the study's folder layout (blk_N_*_weight.f32bin + act_blkN_*.f32bin)")
    .option("--imatrix <FILE>", "llama.cpp importance matrix (.gguf or .dat)")
    .option("--calib <FILE>", "calibration statistics from quantscope calibrate: the predicted KL comes from them (docs/sensitivity.md)")
    .option("--activations <DIR>", "folder of act_blk<N>_<site>.f32bin activations (default: MODEL itself when it is a study folder)")
    .option("--tensors <REGEX>", "only tensors whose name matches")
    .option("--types <LIST>", "candidate types for the error-vs-bpw curves", "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0")
    .option("--tokens <N>", "activation rows used to measure output error (more = slower, steadier)", String(DEFAULT_OUTPUT_TOKENS))
    .option("--model <MODEL>", "the whole model (GGUF/safetensors) a folder of loose tensors comes from: its layer count and QK-norm for the predictions (else the folder's model.json)")
    .option("--measure-kl <TEXT>", "also measure each tensor's single-tensor KL on this text (or .i32 tokens) with the reference forward pass (small models): a predicted-vs-measured scatter, and the ranking and plans use it")
    .option("--chunk <N>", "context length of the --measure-kl chunks", "256")
    .option("--kl-tokens <N|START:COUNT>", "tokens of the text --measure-kl uses (default 512 from the start)")
    .option("--out <FILE>", "HTML report path", "report.html")
    .option("--md <FILE>", "also write Markdown here, charts as SVG+PNG in <name>-charts/ beside it")
    .action(async (model: string, flags: ReportFlags) => {
      const t0 = performance.now();
      const { buildReport } = await import("../../pipeline/report.js");
      const { writeReport } = await import("../../report/report-files.js");
      const { summaryText } = await import("../../report/report-summary.js");
      const tokens = Number(flags.tokens);
      const chunk = Number(flags.chunk);
      if (!Number.isInteger(chunk) || chunk < 2) throw new QuantscopeError(`--chunk must be an integer >= 2, got "${flags.chunk}"`);
      if (!Number.isInteger(tokens) || tokens < 1) throw new QuantscopeError(`--tokens must be a positive integer, got "${flags.tokens}"`);
      const tty = process.stderr.isTTY === true;
      const bar = tty ? new SingleBar({ format: "report {bar} {value}/{total} {tensor}", hideCursor: true, clearOnComplete: true }, Presets.shades_classic) : undefined;
      let started = false;
      const built = buildReport(model, {
        imatrix: flags.imatrix,
        calib: flags.calib,
        activations: flags.activations,
        tensors: flags.tensors !== undefined ? parseRegex(flags.tensors) : undefined,
        outputTokens: tokens,
        model: flags.model,
        measureKl: flags.measureKl !== undefined ? { text: flags.measureKl, chunk, tokens: flags.klTokens } : undefined,
        types: flags.types?.split(",").map((s) => s.trim()).filter(Boolean),
        onProgress: (done, total, tensor) => {
          if (!bar) return;
          if (!started) { bar.start(total, 0, { tensor }); started = true; }
          bar.update(done, { tensor });
        },
      });
      bar?.stop();
      const written = await writeReport(built, { html: flags.out, md: flags.md, generatedAt: new Date().toISOString() });
      const seconds = (performance.now() - t0) / 1000;
      process.stdout.write(summaryText(built, written, seconds));
      if (built.calibFoundInFolder) {
        process.stdout.write(`predicted KL from the calibration statistics in ${built.calibFoundInFolder} (found in the folder; --calib FILE to choose another)\n`);
      }
    });
}
