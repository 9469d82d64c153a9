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

/**
 * Text from a file made safe for a one-line message: control characters
 * escaped (a corrupt name can hold newlines) and long runs cut to `max` chars.
 */
export function printable(s: string, max = 240): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return clean.length > max ? `${clean.slice(0, max)}...(${clean.length - max} more chars)` : clean;
}

/** Error in a file: "FILE: FIELD at byte OFFSET: PROBLEM" (FIELD and OFFSET when known), always one line. */
export function fileError(file: string, problem: string, offset?: number | bigint, field?: string): QuantscopeError {
  problem = printable(problem, 400);
  field = field === undefined ? undefined : printable(field, 160);
  const where = [field, offset !== undefined ? `at byte ${offset}` : undefined].filter(Boolean).join(" ");
  return new QuantscopeError(`${file}: ${where ? where + ": " : ""}${problem}`, { file, offset, field });
}

export function isQuantscopeError(e: unknown): e is QuantscopeError {
  return e instanceof QuantscopeError;
}
