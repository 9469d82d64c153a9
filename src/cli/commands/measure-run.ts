// Actions of `quantscope imatrix` and `quantscope eval` (wiring only).
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { openSource, readImatrix } from "../../io/source.js";
import { encodeImatrixGguf } from "../../io/imatrix-write.js";
import { loadForwardModel } from "../../analysis/forward/model.js";
import { readTextFile, tokenizerOf } from "../../model/tokenizer/index.js";
import { chunking } from "../../model/measure/chunks.js";
import { collectImatrix } from "../../model/measure/imatrix-collect.js";
import { evaluate } from "../../model/measure/eval.js";
import { parseTensorTypeFile, simulatedTypes, simulateQuantization } from "../../model/measure/simulate.js";
import { formatEval } from "../../report/eval-text.js";
import { QuantscopeError } from "../../io/errors.js";
import { parseCount, type EvalFlags, type ImatrixFlags } from "./measure.js";

/** One self-overwriting progress line on stderr when it is a terminal. */
function progressLine(enabled: boolean, label: string): { update(done: number, total: number, extra?: string): void; stop(): void } {
  const tty = enabled && process.stderr.isTTY;
  const t0 = performance.now();
  return {
    update(done, total, extra = "") {
      if (!tty) return;
      const el = (performance.now() - t0) / 1000;
      const eta = done > 0 ? (el / done) * (total - done) : 0;
      process.stderr.write(`\r${label} ${done}/${total} ${extra} eta ${eta.toFixed(0)}s   `);
    },
    stop() {
      if (tty) process.stderr.write("\n");
    },
  };
}

export function runImatrix(model: string, flags: ImatrixFlags): void {
  const src = openSource(model);
  const tok = tokenizerOf(src);
  const tokens = Int32Array.from(tok.encode(readTextFile(flags.file)));
  const c = chunking(tokens.length, parseCount("-c", flags.ctx, 512)!, parseCount("--chunks", flags.chunks, undefined));
  const m = loadForwardModel(src);
  const bar = progressLine(flags.progress, "imatrix: chunk");
  const st = collectImatrix(m, tokens, c, { bos: tok.vocab.addBos ? tok.vocab.bos : undefined, onChunk: (d, n) => bar.update(d, n) });
  bar.stop();
  const entries = [...st.sums].map(([name, sums]) => ({ name, sums, counts: [st.counts.get(name)!] }));
  const out = flags.output ?? "imatrix.gguf";
  writeFileSync(out, encodeImatrixGguf(entries, { datasets: [basename(flags.file)], chunkCount: st.chunks, chunkSize: st.chunkSize }));
  process.stdout.write(
    `imatrix: ${entries.length} matrices over ${st.chunks} chunks of ${st.chunkSize} tokens (${st.chunks * st.chunkSize} tokens), PPL ${st.ppl.toFixed(4)}; written to ${out}\n`,
  );
}

export function runEval(model: string, flags: EvalFlags): void {
  if (flags.base && flags.tensorTypes) throw new QuantscopeError("eval: --base and --tensor-types exclude each other (with --tensor-types the base is the model itself)");
  if (flags.ftype && !flags.tensorTypes) throw new QuantscopeError("eval: --ftype only applies with --tensor-types");
  const src = openSource(model);
  const tok = tokenizerOf(src);
  const tokens = Int32Array.from(tok.encode(readTextFile(flags.file)));
  const c = chunking(tokens.length, parseCount("-c", flags.ctx, 512)!, parseCount("--chunks", flags.chunks, undefined), 1);
  const m = loadForwardModel(src);
  let overrides: Map<string, Float32Array> | undefined;
  let simulated: ReturnType<typeof simulatedTypes> | undefined;
  if (flags.tensorTypes) {
    simulated = simulatedTypes(src, parseTensorTypeFile(flags.tensorTypes), flags.ftype);
    const bar = progressLine(flags.progress, "quantize: tensor");
    overrides = simulateQuantization(m, src, simulated, flags.imatrix ? readImatrix(flags.imatrix) : undefined, (d, n) => bar.update(d, n));
    bar.stop();
  }
  let base: { model: ReturnType<typeof loadForwardModel> } | undefined;
  if (flags.base) {
    const bsrc = openSource(flags.base);
    base = { model: loadForwardModel(bsrc) };
    if (base.model.config.vocab !== m.config.vocab) throw new QuantscopeError(`${flags.base}: vocabulary of ${base.model.config.vocab} tokens differs from ${model}'s ${m.config.vocab}`);
  } else if (overrides) {
    base = { model: m };
  }
  const bar = progressLine(flags.progress, "eval: chunk");
  const res = evaluate({ model: m, overrides }, tokens, c, {
    bos: tok.vocab.addBos ? tok.vocab.bos : undefined,
    base,
    onChunk: (d, n, p) => bar.update(d, n, `PPL ${p.toFixed(4)}`),
  });
  bar.stop();
  if (flags.json) process.stdout.write(JSON.stringify({ model, base: flags.base, tensorTypes: flags.tensorTypes, simulated, ...res }, null, 2) + "\n");
  else process.stdout.write(formatEval(res, { model, base: flags.base ?? (overrides ? `${model} (unquantized)` : undefined) }));
}
