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
import { dequantize, quantize } from "../../quant/index.js";
import { allowsQuantization, fallbackType, mixModelFromSource, parseMix, standardMix } from "../../analysis/mixes.js";
import type { ForwardModel } from "../forward/model.js";
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
    if (!allowsQuantization(t.name, t.shape.length) || t.shape.length > 2) continue;
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
  const todo = types.filter((s) => s.type !== src.tensor(s.tensor).type);
  todo.forEach((s, i) => {
    const info = src.tensor(s.tensor);
    if (!findCodec(s.type)) throw new QuantscopeError(`${s.tensor}: type ${s.type} is not supported by quantscope's codecs yet, so it cannot be simulated`);
    const w = model.weights.get(s.tensor);
    if (!w) throw new QuantscopeError(`${s.tensor}: not loaded by the forward pass`);
    const im = imatrix?.entries.get(s.tensor)?.values;
    if (findCodec(s.type)!.imatrix === "required" && !im) {
      throw new QuantscopeError(`${s.tensor}: ${s.type} needs an importance matrix entry for this tensor (llama-quantize refuses too); pass --imatrix`);
    }
    const q = quantize(s.type, w, info.rows, info.cols, im);
    const w2 = dequantize(s.type, q, info.rows, info.cols);
    if (model.numerics === "llama") registerWeightType(w2, s.type); // llama.cpp's activation rounding for that type
    overrides.set(s.tensor, w2);
    onTensor?.(i + 1, todo.length);
  });
  return overrides;
}
