// npm run bench:calibrate — tokens/s of calibrate (forward + backward, one
// label sample) beside imatrix (forward only) on the same model, chunks and
// threads; single-thread, in-process, after one warm-up chunk each.
// Usage: node --import tsx bench/calibrate.ts [--model tinyqwen|stories260K] [--chunks N] [--ctx N]
import { fileURLToPath } from "node:url";
import { openSource } from "../src/io/source.js";
import { loadForwardModel } from "../src/model/forward/model.js";
import { readTextFile, tokenizerOf } from "../src/model/tokenizer/index.js";
import { chunking } from "../src/model/measure/chunks.js";
import { imatrixChunk } from "../src/model/measure/imatrix-collect.js";
import { calibrateChunk } from "../src/model/calibrate/collect.js";

const FX = fileURLToPath(new URL("../../shared/fixtures/", import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const which = flag("--model", "tinyqwen");
const model = which === "tinyqwen" ? FX + "models/tinyqwen-f16.gguf" : FX + "models/stories260K.gguf";
const textPath = which === "tinyqwen" ? FX + "tinyqwen/calibration.txt" : FX + "models/calibration.txt";
const ctx = Number(flag("--ctx", which === "tinyqwen" ? "256" : "128"));
const nChunks = Number(flag("--chunks", "4"));

const src = openSource(model);
const m = loadForwardModel(src);
const tok = tokenizerOf(src);
const full = readTextFile(textPath);
const tokens = Int32Array.from(tok.encode(full.slice(0, Math.min(full.length, ctx * (nChunks + 1) * 6))));
src.close();
const c = chunking(tokens.length, ctx, nChunks + 1);
const bos = tok.vocab.addBos ? tok.vocab.bos : undefined;

function time(label: string, f: (i: number) => void): number {
  f(0); // warm-up (JIT, transposes)
  const t0 = performance.now();
  for (let i = 1; i <= nChunks; i++) f(i);
  const s = (performance.now() - t0) / 1000;
  const tps = (nChunks * ctx) / s;
  process.stdout.write(`${label.padEnd(34)} ${(s / nChunks).toFixed(3)} s/chunk  ${tps.toFixed(0)} tokens/s\n`);
  return s;
}

process.stdout.write(`${which}: ${nChunks} chunks of ${ctx} tokens, one thread\n`);
const a = time("imatrix (forward)", (i) => imatrixChunk(m, tokens, c, i, bos));
const b = time("calibrate (forward + backward)", (i) => calibrateChunk(m, tokens, c, i, bos, { seed: 1 }));
process.stdout.write(`calibrate / imatrix time: ${(b / a).toFixed(2)}x (goal <= 3x)\n`);
