// One entry point for `quantscope report` and the tests: open the model,
// collect the evidence, diagnose, and write the HTML (and optionally Markdown).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { diagnose, type Diagnosis } from "../analysis/diagnosis/diagnosis.js";
import { readImatrix } from "../io/imatrix.js";
import { QuantscopeError } from "../io/errors.js";
import { readCalib, type CalibData } from "../model/calibrate/calib-file.js";
import { collectReportData, type CollectOptions } from "../analysis/diagnosis/evidence.js";
import type { ReportData } from "../analysis/diagnosis/model.js";
import { isStudyDir, openReportModel } from "./report-source.js";
import { ActivationDir } from "../analysis/sweep/activations.js";
import { renderHtml } from "./html.js";
import { factsFromModel } from "../analysis/sensitivity/model-facts.js";
import { openSource, type TensorSource } from "../io/source.js";
import { loadForwardModel } from "../model/forward/model.js";
import { prepareKl, type KlHarness } from "../model/forward/kl.js";
import { parseTokenWindow } from "../model/forward/tokens.js";
import { measurementTokens } from "../model/measure/tokens-input.js";
import { writeMarkdown } from "./markdown.js";

export interface BuildOptions {
  readonly imatrix?: string;
  /** Calibration statistics for the predicted KL (default: the imatrix file when it holds them). */
  readonly calib?: string;
  readonly activations?: string;
  readonly tensors?: RegExp;
  readonly types?: readonly string[];
  readonly outputTokens?: number;
  /** A whole model (GGUF/safetensors) whose metadata gives a folder's model facts (layers, QK-norm); also the model --measure-kl runs. */
  readonly model?: string;
  /** Measure every record's single-tensor KL on this text (or .i32 token file) with the reference forward pass. */
  readonly measureKl?: { readonly text: string; readonly chunk?: number; readonly tokens?: string };
  readonly onProgress?: CollectOptions["onProgress"];
}

/** The forward-pass harness for --measure-kl: on MODEL, or on --model for a folder of its tensors. */
function klHarness(src: TensorSource, opts: BuildOptions): KlHarness {
  const m = opts.measureKl!;
  const runOn = opts.model ? openSource(opts.model) : src;
  try {
    if (runOn.format === "study-dir" || runOn.format === "f32bin" || runOn.format === "npy") {
      throw new QuantscopeError(`--measure-kl: ${runOn.path} is a folder of loose tensors, the forward pass needs the whole model: add --model MODEL.gguf`);
    }
    const fm = loadForwardModel(runOn);
    const chunk = m.chunk ?? 256;
    return prepareKl(fm, measurementTokens(m.text, runOn.path, fm.config.vocab, parseTokenWindow(m.tokens), chunk), chunk);
  } finally {
    if (runOn !== src) runOn.close();
  }
}

function calibFor(opts: BuildOptions): CalibData | undefined {
  if (opts.calib) {
    const c = readCalib(opts.calib);
    if (!c) throw new QuantscopeError(`${opts.calib}: --calib needs a file from quantscope calibrate (this one has no <name>.out_grad2 gradient statistics)`);
    return c;
  }
  return opts.imatrix && !opts.imatrix.endsWith(".dat") ? readCalib(opts.imatrix) ?? undefined : undefined;
}

export interface BuiltReport {
  readonly data: ReportData;
  readonly diagnosis: Diagnosis;
}

export function buildReport(model: string, opts: BuildOptions = {}): BuiltReport {
  const src = openReportModel(model);
  try {
    const data = collectReportData(src, model, {
      // The study's folder holds its own activations unless told otherwise.
      activations: opts.activations ? new ActivationDir(opts.activations) : isStudyDir(model) ? new ActivationDir(model) : undefined,
      imatrix: opts.imatrix ? readImatrix(opts.imatrix) : undefined,
      calib: calibFor(opts),
      tensors: opts.tensors,
      types: opts.types,
      outputTokens: opts.outputTokens,
      facts: opts.model ? factsFromModel(opts.model, src) : undefined,
      kl: opts.measureKl ? klHarness(src, opts) : undefined,
      onProgress: opts.onProgress,
    });
    return { data, diagnosis: diagnose(data) };
  } finally {
    src.close();
  }
}

export interface WrittenReport {
  readonly htmlPath?: string;
  readonly htmlBytes?: number;
  readonly mdPath?: string;
  readonly images: string[];
}

export async function writeReport(r: BuiltReport, out: { html?: string; md?: string; generatedAt?: string }): Promise<WrittenReport> {
  let htmlBytes: number | undefined;
  if (out.html) {
    const { html } = renderHtml(r.data, r.diagnosis, { generatedAt: out.generatedAt });
    mkdirSync(dirname(out.html), { recursive: true });
    writeFileSync(out.html, html);
    htmlBytes = Buffer.byteLength(html);
  }
  const images = out.md ? await writeMarkdown(r.data, r.diagnosis, out.md) : [];
  return { htmlPath: out.html, htmlBytes, mdPath: out.md, images };
}
