// Action of `quantscope calibrate` (wiring only: the pass is src/model/calibrate).
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { openSource } from "../../io/source.js";
import { QuantscopeError } from "../../io/errors.js";
import { readTextFile, tokenizerOf } from "../../model/tokenizer/index.js";
import { chunking } from "../../model/measure/chunks.js";
import { parseCount } from "./measure.js";
import { calibratePaths } from "../../model/calibrate/parallel.js";
import { encodeCalibGguf } from "../../model/calibrate/calib-file.js";
import type { CalibrateFlags } from "./calibrate.js";

export async function runCalibrate(model: string, flags: CalibrateFlags): Promise<void> {
  const src = openSource(model);
  const tok = tokenizerOf(src);
  src.close();
  const tokens = Int32Array.from(tok.encode(readTextFile(flags.file)));
  const c = chunking(tokens.length, parseCount("-c", flags.ctx, 512)!, parseCount("--chunks", flags.chunks, undefined));
  const seed = flags.seed === undefined ? 1 : Number(flags.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new QuantscopeError(`--seed must be a non-negative integer, got "${flags.seed}"`);
  const tty = flags.progress && process.stderr.isTTY;
  const t0 = performance.now();
  if (tty) process.stderr.write(`calibrate: ${c.count} chunks of ${c.nCtx} tokens, loading the model…`);
  const st = await calibratePaths(model, tokens, c, tok.vocab.addBos ? tok.vocab.bos : undefined,
    { samples: parseCount("--samples", flags.samples, 1), seed }, parseCount("--jobs", flags.jobs, 2)!,
    (d, n) => {
      if (!tty) return;
      // rate and ETA from the start, model loading included (a slight underestimate of the rate early on)
      const el = (performance.now() - t0) / 1000;
      process.stderr.write(`\rcalibrate: chunk ${d}/${n}, ${((d * c.nCtx) / el).toFixed(0)} tokens/s, eta ${((el / d) * (n - d)).toFixed(0)} s   `);
    });
  if (tty) process.stderr.write("\n");
  const out = flags.output ?? "calib.gguf";
  writeFileSync(out, encodeCalibGguf(st, { datasets: [basename(flags.file)] }));
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(
    `calibrate: ${st.inSum2.size} matrices over ${st.chunks} chunks of ${st.chunkSize} tokens (${st.tokens} tokens, ${st.samples} label sample${st.samples > 1 ? "s" : ""} each), PPL ${st.ppl.toFixed(4)}, ${(st.tokens / s).toFixed(0)} tokens/s; written to ${out}\n`,
  );
}
