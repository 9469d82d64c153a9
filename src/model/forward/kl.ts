// Measured single-tensor KL: the reference run's log-probabilities and the
// residual stream at every layer input are kept, so a run with one tensor
// replaced restarts at that tensor's layer instead of at the embedding.
import type { ForwardModel } from "./model.js";
import { embed, headLogits, runLayer } from "./run.js";
import { logSoftmax, meanKl } from "./ops.js";
import { layerOf } from "../../analysis/plan/mixes.js";

export interface KlHarness {
  readonly model: ForwardModel;
  readonly tokens: Int32Array;
  readonly chunk: number;
  /** Reference log-probabilities (T × vocab). */
  readonly refLogProbs: Float64Array;
  /** Residual stream at the input of layer l (index nLayer = after the last block). */
  readonly residual: readonly Float32Array[];
  /** Positions scored (all by default). */
  readonly positions: number;
}

export function prepareKl(model: ForwardModel, tokens: Int32Array, chunk: number): KlHarness {
  const T = tokens.length;
  const h = embed(model, tokens);
  const residual: Float32Array[] = [h.slice()];
  for (let l = 0; l < model.config.nLayer; l++) {
    runLayer(model, h, T, chunk, l);
    residual.push(h.slice());
  }
  const refLogProbs = logSoftmax(headLogits(model, h, T), T, model.config.vocab);
  return { model, tokens, chunk, refLogProbs, residual, positions: T };
}

/** First layer whose computation a replaced tensor changes (nLayer = only the head). */
function startLayer(name: string, nLayer: number): number {
  const l = layerOf(name);
  if (l !== null) return l;
  if (name === "token_embd.weight") return 0;
  return nLayer;
}

/** Mean KL(reference ‖ model with these tensors replaced), nats per token. */
export function measureKl(hx: KlHarness, overrides: ReadonlyMap<string, Float32Array>): number {
  const { model, tokens, chunk } = hx;
  const T = tokens.length;
  const nLayer = model.config.nLayer;
  let from = nLayer;
  for (const name of overrides.keys()) from = Math.min(from, startLayer(name, nLayer));
  const opts = { overrides };
  const h = from === 0 && overrides.has("token_embd.weight") ? embed(model, tokens, opts) : hx.residual[from]!.slice();
  for (let l = from; l < nLayer; l++) runLayer(model, h, T, chunk, l, opts);
  const lq = logSoftmax(headLogits(model, h, T, opts), T, model.config.vocab);
  return meanKl(hx.refLogProbs, lq, T, model.config.vocab);
}
