// Opens what `report` was given: the study's folder layout directly (so the
// bundled example always works), anything else through the model readers.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readF32Bin, readF32BinHeader } from "../io/f32bin.js";
import { QuantscopeError } from "../io/errors.js";
import { openSource, type TensorInfo, type TensorSource } from "../io/source.js";

const WEIGHT_FILE = /^blk_(\d+)_(\w+?)_weight\.f32bin$/;

/** True when `dir` is a folder holding blk_<N>_<kind>_weight.f32bin files. */
export function isStudyDir(dir: string): boolean {
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).some((f) => WEIGHT_FILE.test(f));
}

/** The study's folder layout as a TensorSource (weights only; activations are read by the collector). */
export function openStudyDir(dir: string): TensorSource {
  const files = new Map<string, string>();
  const infos: TensorInfo[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = WEIGHT_FILE.exec(f);
    if (!m) continue;
    const name = `blk.${Number(m[1])}.${m[2]}.weight`;
    const file = join(dir, f);
    const h = readF32BinHeader(file);
    files.set(name, file);
    infos.push({ name, originalName: f, shape: [h.cols, h.rows], rows: h.rows, cols: h.cols, type: "F32", byteSize: h.rows * h.cols * 4, file });
  }
  const get = (name: string): string => {
    const f = files.get(name);
    if (!f) throw new QuantscopeError(`${dir}: no tensor ${name} (have ${[...files.keys()].join(", ")})`);
    return f;
  };
  return {
    path: dir, format: "study-dir", metadata: new Map(),
    tensors: () => infos.slice(),
    tensor: (name) => infos.find((t) => t.name === name) ?? (get(name), infos[0]!),
    read: (name) => readF32Bin(get(name)),
    readRows: (name, start, count) => readF32Bin(get(name), start, count),
    close: () => undefined,
  };
}

export function openReportModel(path: string): TensorSource {
  if (!existsSync(path)) throw new QuantscopeError(`${path}: no such file or folder`);
  return isStudyDir(path) ? openStudyDir(path) : openSource(path);
}
