// One measured run for bench/forward.ts (a fresh process, so peak RSS is this
// run's): eval or imatrix on a model through the public paths, printing JSON
// with wall and CPU seconds (all threads), peak RSS and the streamed pass's
// time split (main thread only, i.e. meaningful with one thread).
// Usage: node --import tsx bench/forward-run.ts eval|imatrix MODEL TOKENIZER_MODEL TEXT CTX CHUNKS JOBS [BATCH]
// The built JS (dist/, `npm run build`), as the shipped CLI runs it: through tsx each worker thread would
// first compile the TypeScript sources, about 0.8 s of wall and 2 CPU s per run that llama.cpp's
// compiled binary does not pay either.
import { openSource } from "../dist/io/source.js";
import { readTextFile, tokenizerOf } from "../dist/model/tokenizer/index.js";
import { chunking } from "../dist/model/measure/chunks.js";
import { imatrixPaths } from "../dist/model/measure/imatrix-parallel.js";
import { evaluatePaths } from "../dist/model/measure/eval-parallel.js";
import { planStream } from "../dist/model/measure/streamed.js";
import { streamStats } from "../dist/model/forward/stream.js";

const [tool, model, tokModel, text, ctx, chunks, jobs, batch] = process.argv.slice(2);
const tsrc = openSource(tokModel!);
const tok = tokenizerOf(tsrc);
tsrc.close();
const tokens = Int32Array.from(tok.encode(readTextFile(text!)));
const bos = tok.vocab.addBos ? tok.vocab.bos : undefined;
const c = chunking(tokens.length, Number(ctx), Number(chunks));
const msrc = openSource(model!);
const plan = planStream(msrc, c, Number(jobs), batch ? Number(batch) : undefined);
msrc.close();
const opts = batch ? { batch: Number(batch) } : {};
const r0 = process.resourceUsage();
const t0 = performance.now();
if (tool === "eval") await evaluatePaths({ model: model! }, tokens, c, bos, Number(jobs), undefined, opts);
else await imatrixPaths(model!, tokens, c, bos, Number(jobs), undefined, opts);
const wall = (performance.now() - t0) / 1000;
const r1 = process.resourceUsage();
process.stdout.write(JSON.stringify({
  tool, tokens: c.count * c.nCtx, wall,
  cpu: (r1.userCPUTime - r0.userCPUTime + r1.systemCPUTime - r0.systemCPUTime) / 1e6,
  maxRssMiB: r1.maxRSS / 1024, plan, stats: streamStats,
}) + "\n");
