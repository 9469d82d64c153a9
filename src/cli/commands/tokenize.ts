// `quantscope tokenize MODEL -f TEXT [--ids]`: llama-tokenize's ids from the model's own tokenizer.
import type { Command } from "commander";
import { QuantscopeError } from "../../io/errors.js";

export function registerTokenize(program: Command): void {
  program
    .command("tokenize")
    .description("Token ids of a text with the model's own tokenizer (GGUF tokenizer.ggml.*, or tokenizer.json beside a safetensors model), as llama-tokenize gives them")
    .argument("<model>", "model file (GGUF or safetensors)")
    .option("-f, --file <text>", "text file to tokenize (UTF-8)")
    .option("-p, --prompt <text>", "text to tokenize, given inline")
    .option("--ids", "print only the ids, one per line")
    .option("--no-bos", "do not add BOS/EOS even if the vocabulary asks for them")
    .option("--parse-special", "recognise control tokens written in the text (e.g. <|im_start|>)")
    .option("--show-count", "print the number of tokens at the end")
    .action(async (model: string, opts: { file?: string; prompt?: string; ids?: boolean; bos: boolean; parseSpecial?: boolean; showCount?: boolean }) => {
      const { tokenizerForModel, readTextFile } = await import("../../model/tokenizer/index.js");
      const { fromByteString } = await import("../../model/tokenizer/vocab.js");
      if ((opts.file === undefined) === (opts.prompt === undefined)) throw new QuantscopeError("tokenize: give exactly one of -f FILE or -p TEXT");
      const text = opts.file !== undefined ? readTextFile(opts.file) : opts.prompt!;
      const tok = tokenizerForModel(model);
      const ids = tok.encode(text, { addSpecial: opts.bos, parseSpecial: opts.parseSpecial ?? false });
      const lines = opts.ids ? ids.map(String) : ids.map((id) => `${String(id).padStart(6)} -> '${fromByteString(tok.vocab.texts[id]!)}'`);
      if (opts.showCount) lines.push(`Total number of tokens: ${ids.length}`);
      process.stdout.write(lines.join("\n") + (lines.length ? "\n" : ""));
    });
}
