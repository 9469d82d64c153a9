// Placeholder until the study command lands; replaced by its real implementation.
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export function registerStudy(program: Command): void {
  program
    .command("study")
    .description("(not implemented yet)")
    .allowUnknownOption()
    .action(() => {
      throw new QuantscopeError("study: not implemented yet");
    });
}
