// Builds what an evaluation compares, from paths (so worker threads can
// rebuild it): the evaluated model, with simulated quantization if asked, and
// the base it is compared with.
import { openSource, readImatrix, type TensorSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { loadForwardModel } from "../forward/model.js";
import type { EvalSide } from "./eval.js";
import { parsePlanFile, parseTensorTypeFile, simulatedTypes, simulateQuantization, type SimulatedType } from "./simulate.js";

export interface EvalPaths {
  readonly model: string;
  /** Reference model for KL. */
  readonly base?: string;
  /** Simulate this llama-quantize tensor-type file on `model`; the base is then `model` itself. */
  readonly tensorTypes?: string;
  /** Simulate the per-tensor types of this `quantscope plan --json` file instead. */
  readonly plan?: string;
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
  if (p.tensorTypes && p.plan) throw new QuantscopeError("eval: --tensor-types and --plan exclude each other (both say which type each tensor gets)");
  const sim = p.tensorTypes ? "--tensor-types" : "--plan";
  if (p.base && (p.tensorTypes || p.plan)) throw new QuantscopeError(`eval: --base and ${sim} exclude each other (with ${sim} the base is the model itself)`);
  if (p.ftype && !p.tensorTypes && !p.plan) throw new QuantscopeError("eval: --ftype only applies with --tensor-types or --plan");
  if (p.imatrix && !p.tensorTypes && !p.plan) throw new QuantscopeError("eval: --imatrix only applies with --tensor-types or --plan (it feeds the simulated quantization)");
}

/** Whether the evaluation simulates a quantization (--tensor-types or --plan). */
export function simulates(p: EvalPaths): boolean {
  return Boolean(p.tensorTypes || p.plan);
}

/** Each tensor's simulated type from --tensor-types or --plan (and --ftype for the rest). */
export function evalSimulatedTypes(p: EvalPaths, src: TensorSource): SimulatedType[] {
  const rules = p.plan ? parsePlanFile(p.plan, src) : parseTensorTypeFile(p.tensorTypes!);
  return simulatedTypes(src, rules, p.ftype);
}

export function loadEvalSetup(p: EvalPaths, onTensor?: (done: number, total: number) => void): EvalSetup {
  checkEvalPaths(p);
  const src = openSource(p.model);
  try {
    const model = loadForwardModel(src, undefined, { numerics: p.numerics ?? "llama" });
    if (simulates(p)) {
      const simulated = evalSimulatedTypes(p, src);
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
