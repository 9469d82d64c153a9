// Placeholder until the report command lands; replaced by its real implementation.
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("(not implemented yet)")
    .allowUnknownOption()
    .action(() => {
      throw new QuantscopeError("report: not implemented yet");
    });
}
