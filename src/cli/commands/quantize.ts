// Placeholder until the quantize command lands; replaced by its real implementation.
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("(not implemented yet)")
    .allowUnknownOption()
    .action(() => {
      throw new QuantscopeError("quantize: not implemented yet");
    });
}
