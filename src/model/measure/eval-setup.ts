// Builds what an evaluation compares, from paths (so worker threads can
// rebuild it): the evaluated model, with simulated quantization if asked, and
// the base it is compared with.
import { openSource, readImatrix } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { loadForwardModel } from "../forward/model.js";
import type { EvalSide } from "./eval.js";
import { parseTensorTypeFile, simulatedTypes, simulateQuantization, type SimulatedType } from "./simulate.js";

export interface EvalPaths {
  readonly model: string;
  /** Reference model for KL. */
  readonly base?: string;
  /** Simulate this llama-quantize tensor-type file on `model`; the base is then `model` itself. */
  readonly tensorTypes?: string;
  readonly ftype?: string;
  readonly imatrix?: string;
  /** Forward numerics (default "llama": activations rounded as llama.cpp's CPU matmuls do). */
  readonly numerics?: "exact" | "llama";
}

export interface EvalSetup {
  readonly side: EvalSide;
  readonly base?: EvalSide;
  readonly simulated?: readonly SimulatedType[];
}

export function checkEvalPaths(p: EvalPaths): void {
  if (p.base && p.tensorTypes) throw new QuantscopeError("eval: --base and --tensor-types exclude each other (with --tensor-types the base is the model itself)");
  if (p.ftype && !p.tensorTypes) throw new QuantscopeError("eval: --ftype only applies with --tensor-types");
}

export function loadEvalSetup(p: EvalPaths, onTensor?: (done: number, total: number) => void): EvalSetup {
  checkEvalPaths(p);
  const src = openSource(p.model);
  try {
    const model = loadForwardModel(src, undefined, { numerics: p.numerics ?? "llama" });
    if (p.tensorTypes) {
      const simulated = simulatedTypes(src, parseTensorTypeFile(p.tensorTypes), p.ftype);
      const overrides = simulateQuantization(model, src, simulated, p.imatrix ? readImatrix(p.imatrix) : undefined, onTensor);
      return { side: { model, overrides }, base: { model }, simulated };
    }
    if (!p.base) return { side: { model } };
    const bsrc = openSource(p.base);
    try {
      const base = loadForwardModel(bsrc, undefined, { numerics: p.numerics ?? "llama" });
      if (base.config.vocab !== model.config.vocab) {
        throw new QuantscopeError(`${p.base}: vocabulary of ${base.config.vocab} tokens differs from ${p.model}'s ${model.config.vocab}`);
      }
      return { side: { model }, base: { model: base } };
    } finally {
      bsrc.close();
    }
  } finally {
    src.close();
  }
}
