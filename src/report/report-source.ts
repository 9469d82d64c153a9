// Opens what `report` was given through the model readers (GGUF, safetensors,
// npy, f32bin or the study's folder layout).
import { existsSync, readdirSync, statSync } from "node:fs";
import { QuantscopeError } from "../io/errors.js";
import { openSource, type TensorSource } from "../io/source.js";

/** True when `dir` is a folder in the study's layout (blk_<N>_<kind>_weight.f32bin files). */
export function isStudyDir(dir: string): boolean {
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).some((f) => /^blk_\d+_\w+_weight\.f32bin$/.test(f));
}

export function openReportModel(path: string): TensorSource {
  if (!existsSync(path)) throw new QuantscopeError(`${path}: no such file or folder`);
  return openSource(path);
}
