// Orchestration of `quantscope report`: open the model (or the study's folder), gather the evidence
// (sweep records, study statistics, optional measured KL), diagnose it. Writing the files is
// src/report's job (report-files.ts); the CLI only parses flags and shows progress.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { diagnose, type Diagnosis } from "../analysis/diagnosis/diagnosis.js";
import { collectReportData, type CollectOptions } from "../analysis/diagnosis/evidence.js";
import type { ReportData } from "../analysis/diagnosis/model.js";
import { factsFromModel } from "../analysis/sensitivity/model-facts.js";
import { ActivationDir } from "../analysis/sweep/activations.js";
import { readImatrix } from "../io/imatrix.js";
import { isStudyDir, openReportModel } from "../report/report-source.js";
import { calibrationFor, klHarnessFor, type KlText } from "./inputs.js";

export interface BuildOptions {
  readonly imatrix?: string;
  /** Calibration statistics for the predicted KL (default: the imatrix file when it holds them, else a folder's calib.gguf). */
  readonly calib?: string;
  readonly activations?: string;
  readonly tensors?: RegExp;
  readonly types?: readonly string[];
  readonly outputTokens?: number;
  /** A whole model (GGUF/safetensors) whose metadata gives a folder's model facts (layers, QK-norm); also the model --measure-kl runs. */
  readonly model?: string;
  /** Measure every record's single-tensor KL on this text (or .i32 token file) with the reference forward pass. */
  readonly measureKl?: KlText;
  readonly onProgress?: CollectOptions["onProgress"];
}

export interface BuiltReport {
  readonly data: ReportData;
  readonly diagnosis: Diagnosis;
  /** The calibration file found in the study folder and used without being asked for (calib.gguf). */
  readonly calibFoundInFolder?: string;
}

/** A study folder may carry its model's calibration statistics as calib.gguf (the bundled example does). */
function folderCalib(model: string): string | undefined {
  const inFolder = join(model, "calib.gguf");
  return statSync(model, { throwIfNoEntry: false })?.isDirectory() && existsSync(inFolder) ? inFolder : undefined;
}

export function buildReport(model: string, opts: BuildOptions = {}): BuiltReport {
  const found = opts.calib === undefined ? folderCalib(model) : undefined;
  const src = openReportModel(model);
  try {
    const data = collectReportData(src, model, {
      // The study's folder holds its own activations unless told otherwise.
      activations: opts.activations ? new ActivationDir(opts.activations) : isStudyDir(model) ? new ActivationDir(model) : undefined,
      imatrix: opts.imatrix ? readImatrix(opts.imatrix) : undefined,
      calib: calibrationFor(opts.calib ?? found, opts.imatrix).calib,
      tensors: opts.tensors,
      types: opts.types,
      outputTokens: opts.outputTokens,
      facts: opts.model ? factsFromModel(opts.model, src) : undefined,
      kl: opts.measureKl ? klHarnessFor(src, opts.measureKl, opts.model, "add --model MODEL.gguf") : undefined,
      onProgress: opts.onProgress,
    });
    return { data, diagnosis: diagnose(data), ...(found ? { calibFoundInFolder: found } : {}) };
  } finally {
    src.close();
  }
}
