// Name lookup shared by the readers: exact GGUF name, then the file's own
// name, else an error that suggests the closest names.
import { printable, QuantscopeError } from "./errors.js";
import type { TensorInfo } from "./source.js";
import { hfToGguf } from "./names.js";

export class TensorIndex {
  private readonly byName = new Map<string, TensorInfo>();
  private readonly byOriginal = new Map<string, TensorInfo>();
  readonly list: TensorInfo[];

  constructor(readonly path: string, infos: TensorInfo[]) {
    this.list = infos;
    for (const t of infos) {
      this.byName.set(t.name, t);
      this.byOriginal.set(t.originalName, t);
    }
  }

  get(name: string): TensorInfo {
    // Exact name, the file's own name, or a Hugging Face name of a GGUF tensor.
    const t = this.byName.get(name) ?? this.byOriginal.get(name) ?? this.byName.get(hfToGguf(name));
    if (t) return t;
    throw new QuantscopeError(`${this.path}: no tensor named "${printable(name)}"${suggest(name, this.list.map((x) => x.name))}`);
  }

  has(name: string): boolean {
    return this.byName.has(name) || this.byOriginal.has(name) || this.byName.has(hfToGguf(name));
  }
}

/** " (closest: a, b, c)" for the names nearest by edit distance, or the first few names. */
export function suggest(name: string, names: string[]): string {
  if (names.length === 0) return " (the file has no tensors)";
  const scored = names.map((n) => ({ n, d: editDistance(name, n) })).sort((a, b) => a.d - b.d);
  const close = scored.filter((s) => s.d <= Math.max(3, name.length / 3)).slice(0, 5).map((s) => s.n);
  return printable(close.length ? ` (closest: ${close.join(", ")})` : ` (${names.length} tensors, e.g. ${names.slice(0, 3).join(", ")})`, 400);
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 40) return Math.abs(a.length - b.length);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Checks a row range and returns it as [start, count]. */
export function checkRowRange(path: string, t: TensorInfo, start: number, count: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > t.rows) {
    throw new QuantscopeError(`${path}: rows ${start}..${start + count} are outside ${printable(t.name)}'s 0..${t.rows}`);
  }
}
