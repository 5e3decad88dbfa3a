// Error codes of the case-file protocol (FORMAT.md, "Result lines").
export type ErrorCode = 'BAD_JSON' | 'BAD_CASE' | 'UNKNOWN_OP' | 'BAD_ARGS' | 'BAD_TENSOR' | 'INTERNAL';

/** an error that names the problem; eval turns it into an error line and goes on */
export class OpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** an error's message on one line (parsers' messages may span several) */
export const oneLine = (e: unknown): string => String((e as Error)?.message ?? e).replace(/\s*\n\s*/g, ' ');
