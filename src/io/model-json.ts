// model.json: the few facts about the whole model that a folder of loose
// tensors (the study's layout, f32bin/npy files) cannot show but the gain
// table needs: how many layers the model has (depth), whether q/k are
// normalised per head (Qwen3's QK-norm), whether token_embd is also the
// output head. Format: docs/formats.md.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { fileError } from "./errors.js";

export interface ModelJson {
  readonly architecture?: string;
  readonly nLayers: number;
  readonly qkNorm: boolean;
  readonly tiedEmbeddings?: boolean;
  /** Free text: where the facts were taken from (e.g. the GGUF file). */
  readonly source?: string;
}

/** A facts file larger than this is not a facts file (refused before it is read). */
const MAX_BYTES = 64 * 1024;
const KEYS = ["architecture", "n_layer", "qk_norm", "tied_embeddings", "source"];

/** Reads and checks a model.json; every problem is one line naming the file and the field. */
export function readModelJson(path: string): ModelJson {
  let text: string;
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_BYTES) throw fileError(path, `${size} bytes: a model facts file is a few lines of JSON (at most ${MAX_BYTES} bytes)`);
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, 0);
    text = buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw fileError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof j !== "object" || j === null || Array.isArray(j)) throw fileError(path, 'expected a JSON object such as {"architecture":"qwen3","n_layer":6,"qk_norm":true}');
  const o = j as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.includes(k)) throw fileError(path, `unknown field (expected ${KEYS.join(", ")})`, undefined, `"${k}"`);
  }
  const n = o.n_layer;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 100_000) {
    throw fileError(path, `expected the model's number of layers, an integer >= 1, got ${JSON.stringify(n) ?? "nothing"}`, undefined, '"n_layer"');
  }
  if (typeof o.qk_norm !== "boolean") {
    throw fileError(path, `expected true or false (does the model normalise q and k per head, as Qwen3 does?), got ${JSON.stringify(o.qk_norm) ?? "nothing"}`, undefined, '"qk_norm"');
  }
  if (o.tied_embeddings !== undefined && typeof o.tied_embeddings !== "boolean") {
    throw fileError(path, `expected true or false, got ${JSON.stringify(o.tied_embeddings)}`, undefined, '"tied_embeddings"');
  }
  for (const k of ["architecture", "source"] as const) {
    if (o[k] !== undefined && (typeof o[k] !== "string" || (o[k] as string).length > 200)) {
      throw fileError(path, `expected a short string, got ${JSON.stringify(o[k]).slice(0, 40)}`, undefined, `"${k}"`);
    }
  }
  return {
    nLayers: n, qkNorm: o.qk_norm,
    ...(o.architecture !== undefined ? { architecture: o.architecture as string } : {}),
    ...(o.tied_embeddings !== undefined ? { tiedEmbeddings: o.tied_embeddings } : {}),
    ...(o.source !== undefined ? { source: o.source as string } : {}),
  };
}

/** Metadata keys a folder source exposes for its model.json (read by sensitivity/model-facts.ts and the sweep). */
export const FACT_KEYS = {
  file: "quantscope.model_facts",
  qkNorm: "quantscope.qk_norm",
  tied: "quantscope.tied_embeddings",
} as const;

/** model.json as source metadata: general.architecture, <arch>.block_count and quantscope.* keys. */
export function modelJsonMetadata(path: string, m: ModelJson): Map<string, unknown> {
  const arch = m.architecture ?? "unknown";
  const md = new Map<string, unknown>([
    ["general.architecture", arch],
    [`${arch}.block_count`, m.nLayers],
    [FACT_KEYS.file, path],
    [FACT_KEYS.qkNorm, m.qkNorm],
  ]);
  if (m.tiedEmbeddings !== undefined) md.set(FACT_KEYS.tied, m.tiedEmbeddings);
  return md;
}
