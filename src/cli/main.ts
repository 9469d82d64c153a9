#!/usr/bin/env node
// quantscope command line: wires commands to analyses and reports, nothing else.
import { Command } from "commander";
import { runCli } from "./run.js";
import { registerStudy } from "./commands/study.js";
import { registerQuantize } from "./commands/quantize.js";
import { registerInspect } from "./commands/inspect.js";
import { registerSweep } from "./commands/sweep.js";
import { registerReport } from "./commands/report.js";
import { registerTokenize } from "./commands/tokenize.js";
import { registerMeasure } from "./commands/measure.js";
import { registerCalibrate } from "./commands/calibrate.js";
import { registerMix } from "./commands/mix.js";

const program = new Command("quantscope")
  .description("Why is this tensor hard to quantize, what does each llama.cpp type cost it, and which mix to use.")
  .version("0.1.0");
registerStudy(program);
registerQuantize(program);
registerInspect(program);
registerSweep(program);
registerReport(program);
registerTokenize(program);
registerMeasure(program);
registerCalibrate(program);
registerMix(program);

await runCli(program, process.argv);
