// Placeholder until the sweep command lands; replaced by its real implementation.
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export function registerSweep(program: Command): void {
  program
    .command("sweep")
    .description("(not implemented yet)")
    .allowUnknownOption()
    .action(() => {
      throw new QuantscopeError("sweep: not implemented yet");
    });
}
