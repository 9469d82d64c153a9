// Inputs every pipeline shares: the forward-pass harness that measures
// single-tensor KL on text, and the calibration statistics a prediction uses.
import { QuantscopeError } from "../io/errors.js";
import { openSource, type TensorSource } from "../io/source.js";
import { readCalib, type CalibData } from "../model/calibrate/calib-file.js";
import { loadForwardModel } from "../model/forward/model.js";
import { prepareKl, type KlHarness } from "../model/forward/kl.js";
import { parseTokenWindow } from "../model/forward/tokens.js";
import { measurementTokens } from "../model/measure/tokens-input.js";

/** What to measure KL on: a text file (or .i32 token ids), the context, and an optional START:COUNT token window. */
export interface KlText {
  readonly text: string;
  readonly chunk?: number;
  readonly tokens?: string;
}

/** Folders of loose tensors (even with model.json) have no forward pass. */
function isLooseTensors(src: TensorSource): boolean {
  return src.format === "study-dir" || src.format === "f32bin" || src.format === "npy";
}

/**
 * The forward-pass harness for single-tensor KL on `on`, or on `modelPath` when given (a study folder's
 * whole model). `hint` ends the error a folder of loose tensors gets: what the user can do instead.
 */
export function klHarnessFor(on: TensorSource, kl: KlText, modelPath?: string, hint = "for a study folder use report --model MODEL.gguf --measure-kl TEXT"): KlHarness {
  const runOn = modelPath ? openSource(modelPath) : on;
  try {
    if (isLooseTensors(runOn)) {
      throw new QuantscopeError(`--measure-kl: ${runOn.path} holds loose tensors, the forward pass needs the whole model (GGUF or safetensors); ${hint}`);
    }
    const fm = loadForwardModel(runOn);
    const chunk = kl.chunk ?? 256;
    return prepareKl(fm, measurementTokens(kl.text, runOn.path, fm.config.vocab, parseTokenWindow(kl.tokens), chunk), chunk);
  } finally {
    if (runOn !== on) runOn.close();
  }
}

/**
 * Calibration statistics for predictions: `--calib FILE` (which must hold gradient statistics), else the
 * `--imatrix` file when it holds them (a calibrate output is also an imatrix). Returns the path used too.
 */
export function calibrationFor(calibPath: string | undefined, imatrixPath: string | undefined): { calib?: CalibData; path?: string } {
  if (calibPath) {
    const c = readCalib(calibPath);
    if (!c) throw new QuantscopeError(`${calibPath}: --calib needs a file from quantscope calibrate (this one has no <name>.out_grad2 gradient statistics)`);
    return { calib: c, path: calibPath };
  }
  if (imatrixPath && !imatrixPath.endsWith(".dat")) {
    const c = readCalib(imatrixPath);
    if (c) return { calib: c, path: imatrixPath };
  }
  return {};
}
