// Simulated quantization for eval: which type each tensor would get from a
// llama-quantize --tensor-type-file (first matching regex wins, patterns
// lower-cased, searched anywhere in the name) and optionally an ftype's
// standard mix for the rest, after llama-quantize's block-fit fallbacks; then
// each tensor quantized and dequantized in memory with the bit-exact codecs.
import { readFileSync } from "node:fs";
import { fileError, QuantscopeError } from "../../io/errors.js";
import type { Imatrix, TensorSource } from "../../io/source.js";
import { ggmlTypeByName } from "../../ggml/types.js";
import { findCodec } from "../../quant/registry.js";
import { dequantizeInto, quantize } from "../../quant/index.js";
import { escapeRegex } from "../../analysis/plan/plan.js";
import { allowsQuantization, fallbackType, mixModelFromSource, parseMix, standardMix } from "../../analysis/plan/mixes.js";
import type { ForwardModel } from "../forward/model.js";
import type { TensorRewrite } from "../forward/stream.js";
import { registerWeightType } from "../forward/act-numerics.js";

export interface TensorTypeRule {
  readonly pattern: string;
  readonly regex: RegExp;
  readonly type: string;
}

/** Parses llama-quantize's --tensor-type-file: whitespace-separated `pattern=type` items. */
export function parseTensorTypeFile(path: string): TensorTypeRule[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw fileError(path, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `cannot read (${(e as Error).message})`);
  }
  const rules: TensorTypeRule[] = [];
  let offset = 0;
  for (const item of text.split(/(\s+)/)) {
    const at = offset;
    offset += Buffer.byteLength(item);
    if (item.length === 0 || /^\s+$/.test(item)) continue;
    const eq = item.indexOf("=");
    if (eq <= 0 || eq === item.length - 1) throw fileError(path, `"${item}" is not pattern=type (llama-quantize would refuse it)`, at);
    const pattern = item.slice(0, eq).toLowerCase();
    const info = ggmlTypeByName(item.slice(eq + 1));
    if (!info) throw fileError(path, `"${item.slice(eq + 1)}" is not a ggml type name`, at + eq + 1);
    let regex: RegExp;
    try {
      regex = new RegExp(pattern);
    } catch (e) {
      throw fileError(path, `"${pattern}" is not a valid regular expression (${(e as Error).message})`, at);
    }
    rules.push({ pattern, regex, type: info.name });
  }
  return rules;
}

/**
 * The per-tensor types of a `quantscope plan --json` file as rules: one
 * anchored exact-name rule per choice (what `plan --emit tensor-types`
 * writes). Tensors the model does not hold are refused (a plan for another model).
 */
export function parsePlanFile(path: string, src: TensorSource): TensorTypeRule[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(path, code === "ENOENT" ? "no such file" : code ? `cannot read (${(e as Error).message})` : `is not JSON (${(e as Error).message.split("\n")[0]}); expected quantscope plan --json output`);
  }
  const choices = (json as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) throw fileError(path, "has no choices array; expected quantscope plan --json output", undefined, "choices");
  const sizes = new Map(src.tensors().map((t) => [t.name, t.rows * t.cols]));
  return choices.map((c: unknown, i) => {
    const { tensor, type, elements } = (c ?? {}) as { tensor?: unknown; type?: unknown; elements?: unknown };
    const field = `choices[${i}]`;
    if (typeof tensor !== "string" || typeof type !== "string") throw fileError(path, "is not { tensor, type }", undefined, field);
    const info = ggmlTypeByName(type);
    if (!info) throw fileError(path, `"${type}" is not a ggml type name`, undefined, `${field}.type`);
    const n = sizes.get(tensor);
    if (n === undefined) throw fileError(path, `tensor ${tensor} is not in ${src.path} (a plan for another model?)`, undefined, `${field}.tensor`);
    if (elements !== undefined && elements !== n) throw fileError(path, `${tensor} has ${String(elements)} elements in the plan but ${n} in ${src.path} (a plan for another model?)`, undefined, `${field}.elements`);
    const pattern = `^${escapeRegex(tensor)}$`;
    return { pattern, regex: new RegExp(pattern), type: info.name };
  });
}

export interface SimulatedType {
  readonly tensor: string;
  readonly type: string;
  /** "rule PATTERN", "mix FTYPE", or "unchanged". */
  readonly source: string;
}

/** Each 2-D weight's simulated type; tensors llama-quantize would not quantize keep their stored type. */
export function simulatedTypes(src: TensorSource, rules: readonly TensorTypeRule[], ftype?: string): SimulatedType[] {
  const mix = ftype ? new Map(standardMix(parseMix(ftype), mixModelFromSource(src)).map((a) => [a.tensor, a.type])) : undefined;
  const out: SimulatedType[] = [];
  for (const t of src.tensors()) {
    if (!allowsQuantization(t.name, t.shape.length) || t.shape.length > 3) continue;
    const rule = rules.find((r) => r.regex.test(t.name));
    let type: string, source: string;
    if (rule) {
      try {
        type = fallbackType(rule.type, t.cols).type;
      } catch (e) {
        throw new QuantscopeError(`${t.name} (rule ${rule.pattern}=${rule.type}): ${(e as Error).message}`);
      }
      source = `rule ${rule.pattern}`;
    } else if (mix?.has(t.name)) {
      type = mix.get(t.name)!;
      source = `mix ${ftype!.toUpperCase()}`;
    } else {
      type = t.type;
      source = "unchanged";
    }
    out.push({ tensor: t.name, type, source });
  }
  return out;
}

/** The tensors whose simulated type differs from the stored one (the others are left alone). */
export function simulationTodo(src: TensorSource, types: readonly SimulatedType[]): SimulatedType[] {
  return types.filter((s) => s.type !== src.tensor(s.tensor).type);
}

/**
 * The user errors a simulation would meet, raised before any work: a type
 * without codec, a type needing an imatrix entry the imatrix lacks.
 */
export function checkSimulation(todo: readonly SimulatedType[], imatrix?: Imatrix): void {
  for (const s of todo) {
    const codec = findCodec(s.type);
    if (!codec) throw new QuantscopeError(`${s.tensor}: type ${s.type} is not supported by quantscope's codecs yet, so it cannot be simulated`);
    if (codec.imatrix === "required" && !imatrix?.entries.get(s.tensor)) {
      throw new QuantscopeError(`${s.tensor}: ${s.type} needs an importance matrix entry for this tensor (llama-quantize refuses too); pass --imatrix`);
    }
  }
}

/**
 * Quantizes rows x cols of `w` to `type` and dequantizes them back into `out`
 * (may be `w` itself). Rows are quantized independently (ggml_quantize_chunk
 * does row by row), so a tensor simulated in row blocks or row by row gives
 * the same floats as the whole tensor at once.
 */
export function simulateRows(type: string, w: Float32Array, rows: number, cols: number, imatrix: Float32Array | undefined, out: Float32Array): Float32Array {
  const experts = imatrix ? imatrix.length / cols : 1;
  if (experts === 1) return dequantizeInto(type, quantize(type, w, rows, cols, imatrix), rows, cols, out);
  // a 3-D expert tensor with one importance vector per expert: llama-quantize quantizes expert by expert
  if (!Number.isInteger(experts) || rows % experts !== 0) {
    throw new QuantscopeError(`${type}: imatrix of ${imatrix!.length} values does not split into experts of ${cols} columns over ${rows} rows`);
  }
  const per = rows / experts, n = per * cols;
  for (let e = 0; e < experts; e++) {
    const q = quantize(type, w.subarray(e * n, (e + 1) * n), per, cols, imatrix!.subarray(e * cols, (e + 1) * cols));
    dequantizeInto(type, q, per, cols, out.subarray(e * n, (e + 1) * n));
  }
  return out;
}

/**
 * Quantized-then-dequantized copies of the model's tensors for the given types
 * (tensors already stored in that type are left alone), with the imatrix
 * entry of each tensor when there is one, as llama-quantize passes it.
 */
export function simulateQuantization(
  model: ForwardModel, src: TensorSource, types: readonly SimulatedType[], imatrix?: Imatrix,
  onTensor?: (done: number, total: number) => void,
): Map<string, Float32Array> {
  const overrides = new Map<string, Float32Array>();
  const todo = simulationTodo(src, types);
  checkSimulation(todo, imatrix);
  todo.forEach((s, i) => {
    const info = src.tensor(s.tensor);
    const w = model.weights.get(s.tensor);
    if (!w) throw new QuantscopeError(`${s.tensor}: not loaded by the forward pass`);
    const w2 = simulateRows(s.type, w, info.rows, info.cols, imatrix?.entries.get(s.tensor)?.values, new Float32Array(w.length));
    if (model.numerics === "llama") registerWeightType(w2, s.type); // llama.cpp's activation rounding for that type
    overrides.set(s.tensor, w2);
    onTensor?.(i + 1, todo.length);
  });
  return overrides;
}

/** The simulation as a streamed model's per-read rewrite: each listed tensor's rows quantized and dequantized in place. */
export function simulationRewrite(todo: readonly SimulatedType[], imatrix?: Imatrix): TensorRewrite {
  const types = new Map(todo.map((s) => [s.tensor, s.type]));
  return (name, data, rows, cols) => {
    const type = types.get(name);
    if (type === undefined) return undefined;
    simulateRows(type, data, rows, cols, imatrix?.entries.get(name)?.values, data);
    return type;
  };
}
