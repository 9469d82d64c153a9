// Actions of `quantscope imatrix` and `quantscope eval` (wiring only).
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { openSource } from "../../io/source.js";
import { forwardConfig } from "../../model/forward/model.js";
import { encodeImatrixGguf } from "../../io/imatrix-write.js";
import { readTextFile, tokenizerForModel } from "../../model/tokenizer/index.js";
import { chunking } from "../../model/measure/chunks.js";
import { imatrixPaths } from "../../model/measure/imatrix-parallel.js";
import { evaluatePaths } from "../../model/measure/eval-parallel.js";
import { checkEvalPaths } from "../../model/measure/eval-setup.js";
import { formatEval } from "../../report/eval-text.js";
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

/** The model's own errors (unsupported architecture, bad config.json) before the tokenizer's. */
function checkModel(model: string): void {
  const src = openSource(model);
  try { forwardConfig(src); } finally { src.close(); }
}

export async function runImatrix(model: string, flags: ImatrixFlags): Promise<void> {
  checkModel(model);
  const tok = tokenizerForModel(model);
  const tokens = Int32Array.from(tok.encode(readTextFile(flags.file)));
  const c = chunking(tokens.length, parseCount("-c", flags.ctx, 512)!, parseCount("--chunks", flags.chunks, undefined));
  const bar = progressLine(flags.progress, "imatrix: chunk");
  const st = await imatrixPaths(model, tokens, c, tok.vocab.addBos ? tok.vocab.bos : undefined, parseCount("--jobs", flags.jobs, 2)!, (d, n) => bar.update(d, n), { stream: flags.stream });
  bar.stop();
  const entries = [...st.sums].map(([name, sums]) => ({ name, sums, counts: st.counts.get(name)! }));
  const out = flags.output ?? "imatrix.gguf";
  writeFileSync(out, encodeImatrixGguf(entries, { datasets: [basename(flags.file)], chunkCount: st.chunks, chunkSize: st.chunkSize }));
  process.stdout.write(
    `imatrix: ${entries.length} matrices over ${st.chunks} chunks of ${st.chunkSize} tokens (${st.chunks * st.chunkSize} tokens), PPL ${st.ppl.toFixed(4)}; written to ${out}\n`,
  );
}

export async function runEval(model: string, flags: EvalFlags): Promise<void> {
  const paths = { model, base: flags.base, tensorTypes: flags.tensorTypes, plan: flags.plan, ftype: flags.ftype, imatrix: flags.imatrix };
  checkEvalPaths(paths);
  checkModel(model);
  const tok = tokenizerForModel(model);
  const tokens = Int32Array.from(tok.encode(readTextFile(flags.file)));
  const c = chunking(tokens.length, parseCount("-c", flags.ctx, 512)!, parseCount("--chunks", flags.chunks, undefined), 1);
  const bar = progressLine(flags.progress, "eval: chunk");
  const res = await evaluatePaths(paths, tokens, c, tok.vocab.addBos ? tok.vocab.bos : undefined, parseCount("--jobs", flags.jobs, 2)!,
    (d, n, p) => bar.update(d, n, `PPL ${p.toFixed(4)}`), { stream: flags.stream });
  bar.stop();
  if (flags.json) process.stdout.write(JSON.stringify({ model, base: flags.base, tensorTypes: flags.tensorTypes, plan: flags.plan, ...res }, null, 2) + "\n");
  else process.stdout.write(formatEval(res, { model, base: flags.base ?? (flags.tensorTypes || flags.plan ? `${model} (unquantized)` : undefined) }));
}
