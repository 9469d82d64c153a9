// The one Map from type name to codec. Codec modules register themselves;
// codecs/index.ts imports all of them.
import type { Codec } from "./codec.js";

const CODECS = new Map<string, Codec>();

export function registerCodec(codec: Codec): void {
  CODECS.set(codec.info.name, codec);
}

/** Codec by upper-case ggml name, or undefined. */
export function findCodec(name: string): Codec | undefined {
  return CODECS.get(name.toUpperCase());
}

/** Names of every type that can be quantized and dequantized here. */
export function codecNames(): string[] {
  return [...CODECS.keys()];
}
