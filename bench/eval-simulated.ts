// Peak RSS and time of a streamed `eval --tensor-types` (simulated quantization
// applied layer by layer) in a fresh process, for models whose vocabulary has
// no tokenizer of its own (gen_model.py's Qwen3-4B shape): the text is
// tokenized with another model's tokenizer. Prints one JSON line.
// Usage: node --import tsx bench/eval-simulated.ts MODEL TOKENIZER_MODEL TEXT CTX CHUNKS JOBS TYPES_FILE [FTYPE]
//   (TYPES_FILE "-": no simulation, the model against itself as base)
import { openSource } from "../src/io/source.js";
import { readTextFile, tokenizerOf } from "../src/model/tokenizer/index.js";
import { chunking } from "../src/model/measure/chunks.js";
import { evaluatePaths } from "../src/model/measure/eval-parallel.js";
import { planStream } from "../src/model/measure/streamed.js";
import { streamStats } from "../src/model/forward/stream.js";

const [model, tokModel, text, ctx, chunks, jobs, types, ftype] = process.argv.slice(2);
if (!jobs) throw new Error("usage: eval-simulated.ts MODEL TOKENIZER_MODEL TEXT CTX CHUNKS JOBS TYPES_FILE [FTYPE]");
const tsrc = openSource(tokModel!);
const tok = tokenizerOf(tsrc);
tsrc.close();
const tokens = Int32Array.from(tok.encode(readTextFile(text!)));
const c = chunking(tokens.length, Number(ctx), Number(chunks));
const msrc = openSource(model!);
const plan = planStream(msrc, c, Number(jobs), undefined, undefined, 2);
msrc.close();
const paths = types === "-" ? { model: model!, base: model! } : { model: model!, tensorTypes: types!, ftype };
const r0 = process.resourceUsage();
const t0 = performance.now();
const r = await evaluatePaths(paths, tokens, c, tok.vocab.addBos ? tok.vocab.bos : undefined, Number(jobs), undefined, { stream: true });
const wall = (performance.now() - t0) / 1000;
const r1 = process.resourceUsage();
process.stdout.write(JSON.stringify({
  tokens: c.count * c.nCtx, wall, cpu: (r1.userCPUTime - r0.userCPUTime + r1.systemCPUTime - r0.systemCPUTime) / 1e6,
  maxRssMiB: r1.maxRSS / 1024, plan, kld: r.kl?.kld.value, ppl: r.ppl.value, stats: streamStats,
}) + "\n");
