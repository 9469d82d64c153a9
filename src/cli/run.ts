// Runs a commander program and turns errors into one line on stderr.
import type { Command } from "commander";
import { isQuantscopeError } from "../io/errors.js";

export async function runCli(program: Command, argv: string[]): Promise<void> {
  program.exitOverride();
  program.configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, "quantscope: ")) });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("commander.")) {
      // help and version exit 0; usage errors were already printed by commander.
      process.exitCode = (e as { exitCode?: number }).exitCode ?? 2;
      return;
    }
    if (isQuantscopeError(e)) {
      process.stderr.write(`quantscope: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    const err = e as Error;
    process.stderr.write(`quantscope: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.QUANTSCOPE_DEBUG) process.stderr.write(`${err?.stack ?? ""}\n`);
    else process.stderr.write("quantscope: (set QUANTSCOPE_DEBUG=1 for a stack trace; please report this)\n");
    process.exitCode = 1;
  }
}
