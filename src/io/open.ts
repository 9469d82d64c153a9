// Format sniffing: picks the reader for a path (magic bytes, extension, directory).
import { QuantscopeError } from "./errors.js";
import type { TensorSource } from "./source.js";

/** Opens any supported model file or folder as a TensorSource. */
export function openSource(path: string): TensorSource {
  throw new QuantscopeError(`${path}: model readers are not implemented yet`);
}
