// What the gain table needs to know about the whole model, besides the
// tensor itself: its number of layers (a tensor's depth), whether q/k are
// normalised per head (QK-norm: attn_q/attn_k get other gains), whether
// token_embd doubles as the output head. A GGUF or safetensors model shows
// them (metadata, tensor list); a folder of loose tensors does not, unless
// it carries a model.json (src/io/model-json.ts) or `--model MODEL.gguf`
// lends them. Where they are missing the gain-table prediction is marked
// uncertain, with the range it spans over the facts it could not know.
import { QuantscopeError } from "../../io/errors.js";
import { FACT_KEYS } from "../../io/model-json.js";
import { openSource, type TensorSource } from "../../io/source.js";
import { predictKl } from "./gain-table.js";
import { hasQkNorm, hasTiedEmbeddings, layerCount } from "../sweep/sweep.js";
import type { SensitivityBasis, SweepRecord } from "../sweep/types.js";

/** A fact the gain table needs that the source could not establish (the model.json field that supplies it). */
export type MissingFact = "n_layer" | "qk_norm" | "tied_embeddings";

export interface ModelFacts {
  readonly architecture: string;
  readonly nLayers: number;
  readonly qkNorm: boolean;
  readonly tiedEmbeddings: boolean;
  /** Where they came from: "gguf metadata", "model.json (PATH)", "MODEL (--model)", "tensor names (assumed)". */
  readonly from: string;
  /** Facts assumed, not known (empty for a whole model or a folder with model.json). */
  readonly missing: readonly MissingFact[];
}

/** The facts a source shows (loose-tensor sources without model.json: what is assumed, and what is missing). */
export function modelFacts(src: TensorSource): ModelFacts {
  const base = {
    architecture: String(src.metadata.get("general.architecture") ?? "unknown"),
    nLayers: layerCount(src), qkNorm: hasQkNorm(src), tiedEmbeddings: hasTiedEmbeddings(src),
  };
  const file = src.metadata.get(FACT_KEYS.file);
  if (typeof file === "string") {
    // model.json states n_layer and qk_norm; tied embeddings only matter when token_embd is here
    const tiedKnown = typeof src.metadata.get(FACT_KEYS.tied) === "boolean" || !hasTokenEmbd(src);
    return { ...base, from: `model.json (${file})`, missing: tiedKnown ? [] : ["tied_embeddings"] };
  }
  if (src.format === "gguf" || src.format === "safetensors") return { ...base, from: src.format === "gguf" ? "gguf metadata" : "safetensors tensor list", missing: [] };
  // loose tensors: the layer count is the highest block seen, and no norm tensors are there to show QK-norm
  const missing: MissingFact[] = ["n_layer", "qk_norm"];
  if (hasTokenEmbd(src) && !src.tensors().some((t) => t.name === "output.weight")) missing.push("tied_embeddings");
  return { ...base, from: "tensor names (assumed)", missing };
}

function hasTokenEmbd(src: TensorSource): boolean {
  return src.tensors().some((t) => t.name === "token_embd.weight");
}

/**
 * `--model MODEL`: the facts of a whole model (GGUF or safetensors) for a folder of its tensors. Each of
 * the folder's tensors must be in the model with the same shape (else it is another model).
 */
export function factsFromModel(modelPath: string, folder: TensorSource): ModelFacts {
  const m = openSource(modelPath);
  try {
    if (m.format !== "gguf" && m.format !== "safetensors") {
      throw new QuantscopeError(`--model ${modelPath}: expected a GGUF or safetensors model (its metadata and tensor list give the facts), got ${m.format}`);
    }
    const names = new Map(m.tensors().map((t) => [t.name, t]));
    for (const t of folder.tensors()) {
      const o = names.get(t.name);
      if (!o) throw new QuantscopeError(`--model ${modelPath}: has no tensor ${t.name} (from ${folder.path}): not this folder's model`);
      if (o.rows !== t.rows || o.cols !== t.cols) {
        throw new QuantscopeError(`--model ${modelPath}: ${t.name} is ${o.rows}x${o.cols} there and ${t.rows}x${t.cols} in ${folder.path}: not this folder's model`);
      }
    }
    const f = modelFacts(m);
    return { ...f, from: `${modelPath} (--model)`, missing: [] };
  } finally {
    m.close();
  }
}

const FACT_WORDS: Record<MissingFact, string> = {
  n_layer: "the model's number of layers (n_layer)",
  qk_norm: "whether q/k are normalised per head (qk_norm)",
  tied_embeddings: "whether token_embd is also the output head (tied_embeddings)",
};

/** Layer counts tried for an unknown n_layer: the tensor's own layer last, or deeper models. */
function layerVariants(layer: number | null, assumed: number): number[] {
  const l = (layer ?? 0) + 1;
  return [...new Set([assumed, l, 2 * l, 8 * l, 128].filter((n) => n >= l))];
}

/**
 * The range a gain-table prediction spans over the facts the source could not establish, as a
 * SensitivityBasis; undefined when the record does not depend on them (calibration statistics,
 * measured, or a gain that none of the missing facts changes).
 */
export function factUncertainty(r: SweepRecord, facts: ModelFacts): SensitivityBasis | undefined {
  if (facts.missing.length === 0 || r.skipped || !r.sensitivitySource || r.sensitivitySource === "calib" || !Number.isFinite(r.sensitivity)) return undefined;
  const qks = facts.missing.includes("qk_norm") ? [false, true] : [facts.qkNorm];
  const ns = facts.missing.includes("n_layer") ? layerVariants(r.layer, r.nLayers) : [r.nLayers];
  const kinds = r.kind === "token_embd" && facts.missing.includes("tied_embeddings") ? ["token_embd", "output"] : [r.gainKey === "output" ? "output" : r.kind];
  let lo = r.sensitivity, hi = r.sensitivity;
  for (const kind of kinds) for (const qkNorm of qks) for (const nLayers of ns) {
    const v = predictKl({ kind, layer: r.layer, nLayers, outputRelErr: r.outputRelErr, source: r.outputErrorSource, qkNorm });
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!(hi > lo * 1.01)) return undefined;
  const which = facts.missing.filter((m) => m !== "tied_embeddings" || kinds.length > 1);
  return {
    gain: `${r.gainKey ?? r.kind} with ${which.join(", ")} assumed`,
    fitted: true,
    uncertaintyFactor: Math.max(hi / r.sensitivity, r.sensitivity / lo),
    range: [lo, hi],
    note: `model facts missing (${which.join(", ")}): the gain table's prediction depends on them (range: what it would be over their plausible values); add model.json to the folder or pass --model MODEL.gguf (docs/formats.md)`,
    missingFacts: which,
  };
}

/** Records with the uncertainty of missing facts attached (records already marked for another reason keep theirs). */
export function markUncertain(records: readonly SweepRecord[], facts: ModelFacts): SweepRecord[] {
  if (facts.missing.length === 0) return records as SweepRecord[];
  return records.map((r) => {
    if (r.sensitivityBasis) return r;
    const b = factUncertainty(r, facts);
    return b ? { ...r, sensitivityBasis: b } : r;
  });
}

/** One line for notes: what is missing, what it does to the predictions, how to supply it; null when nothing is. */
export function factsNote(facts: ModelFacts, records: readonly SweepRecord[]): string | null {
  if (facts.missing.length === 0) return null;
  const unsure = new Set(records.filter((r) => r.sensitivityBasis?.missingFacts).map((r) => r.tensor));
  const assumed = `assumed ${facts.nLayers} layer${facts.nLayers === 1 ? "" : "s"}, ${facts.qkNorm ? "" : "no "}QK-norm`;
  return `model facts missing: ${facts.missing.map((m) => FACT_WORDS[m]).join("; ")} (${assumed}); ` +
    (unsure.size
      ? `the gain table's predicted KL of ${unsure.size} tensor${unsure.size === 1 ? "" : "s"} depends on them and is marked ~ (uncertain, with its range)`
      : "no prediction here depends on them") +
    `. Supply them with model.json in the folder ({"architecture":"qwen3","n_layer":6,"qk_norm":true}, docs/formats.md) or --model MODEL.gguf`;
}
