// Placeholder until the inspect command lands; replaced by its real implementation.
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("(not implemented yet)")
    .allowUnknownOption()
    .action(() => {
      throw new QuantscopeError("inspect: not implemented yet");
    });
}
