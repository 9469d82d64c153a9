// Format sniffing: picks the reader for a path by directory contents, magic
// bytes, then extension.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileError, QuantscopeError } from "./errors.js";
import { PositionedFile } from "./file.js";
import { GgufSource } from "./gguf.js";
import { NpySource, NPY_MAGIC } from "./npy.js";
import { SafetensorsSource } from "./safetensors.js";
import { F32BinSource } from "./f32bin-source.js";
import { StudyDirSource } from "./study-dir.js";
import type { SourceFormat, TensorSource } from "./source.js";

/** Detects the format of a file or folder without parsing it. */
export function sniffFormat(path: string): SourceFormat {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(path, code === "ENOENT" ? "no such file or folder" : `cannot open (${code ?? String(e)})`);
  }
  if (isDir) return "study-dir";
  if (path.endsWith(".safetensors.index.json")) return "safetensors";
  const f = new PositionedFile(path);
  try {
    const head = Buffer.from(f.read(0, Math.min(16, f.size), "magic"));
    if (head.subarray(0, 4).toString("latin1") === "GGUF") return "gguf";
    if (head.length >= 6 && head.subarray(0, 6).equals(NPY_MAGIC)) return "npy";
    const lower = path.toLowerCase();
    if (lower.endsWith(".gguf")) return "gguf";
    if (lower.endsWith(".safetensors")) return "safetensors";
    if (lower.endsWith(".npy")) return "npy";
    if (lower.endsWith(".f32bin")) return "f32bin";
    // safetensors: u64 header size then '{'
    if (head.length >= 9 && head[8] === 0x7b) return "safetensors";
    throw fileError(path, "unrecognised format (expected GGUF, safetensors, .npy, .f32bin or a study folder)", 0, "magic");
  } finally {
    f.close();
  }
}

/** Opens any supported model file or folder as a TensorSource. */
export function openSource(path: string): TensorSource {
  const format = sniffFormat(path);
  switch (format) {
    case "gguf": return new GgufSource(path);
    case "safetensors": return new SafetensorsSource(path);
    case "npy": return new NpySource(path);
    case "f32bin": return new F32BinSource(path);
    case "study-dir": return openDir(path);
  }
}

/** A folder: a sharded safetensors model, a single safetensors/GGUF file, or the study layout. */
function openDir(path: string): TensorSource {
  const files = readdirSync(path);
  if (files.includes("model.safetensors.index.json")) return new SafetensorsSource(join(path, "model.safetensors.index.json"));
  if (files.some((f) => f.toLowerCase().endsWith(".f32bin"))) return new StudyDirSource(path);
  const st = files.filter((f) => f.endsWith(".safetensors"));
  if (st.length === 1) return new SafetensorsSource(join(path, st[0]!));
  const gg = files.filter((f) => f.endsWith(".gguf"));
  if (gg.length === 1) return new GgufSource(join(path, gg[0]!));
  const first = gg.find((f) => /-00001-of-\d{5}\.gguf$/.test(f));
  if (first && gg.every((f) => /-\d{5}-of-\d{5}\.gguf$/.test(f))) return new GgufSource(join(path, first));
  throw new QuantscopeError(`${path}: folder holds no model quantscope can open (a .gguf, .safetensors, model.safetensors.index.json, or the study's .f32bin files)`);
}
