// One error type for everything a user can cause (bad files, bad flags).
// The CLI prints its message as one line and exits 2; anything else is a bug
// and is printed with its stack.

export class QuantscopeError extends Error {
  /** File the problem is in, when there is one. */
  readonly file?: string;
  /** Byte offset of the offending field, when known. */
  readonly offset?: number | bigint;
  /** Name of the offending field, when known. */
  readonly field?: string;
  constructor(message: string, where: { file?: string; offset?: number | bigint; field?: string } = {}) {
    super(message);
    this.name = "QuantscopeError";
    this.file = where.file;
    this.offset = where.offset;
    this.field = where.field;
  }
}

/** Error in a file: "FILE: FIELD at byte OFFSET: PROBLEM" (FIELD and OFFSET when known). */
export function fileError(file: string, problem: string, offset?: number | bigint, field?: string): QuantscopeError {
  const where = [field, offset !== undefined ? `at byte ${offset}` : undefined].filter(Boolean).join(" ");
  return new QuantscopeError(`${file}: ${where ? where + ": " : ""}${problem}`, { file, offset, field });
}

export function isQuantscopeError(e: unknown): e is QuantscopeError {
  return e instanceof QuantscopeError;
}
