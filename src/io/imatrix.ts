// llama.cpp importance matrices: GGUF (.in_sum2/.counts) and legacy .dat.
import { QuantscopeError } from "./errors.js";
import type { Imatrix } from "./source.js";

export function readImatrix(path: string): Imatrix {
  throw new QuantscopeError(`${path}: imatrix reader is not implemented yet`);
}
