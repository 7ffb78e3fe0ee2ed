import { GatehouseError } from '../core/errors.js';

/** The recording could not be written (disk full, I/O error, buffer overflow). */
export function recordingWriteFailed(detail: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_RECORDING_FAILED', {
    detail,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A recording file is not valid asciicast v3; `lineNo` is 1-based. */
export function recordingInvalid(lineNo: number, problem: string): GatehouseError {
  return new GatehouseError('GH_RECORDING_INVALID', {
    detail: `line ${lineNo}: ${problem}`,
  });
}

/** A name that would form a recording path is not acceptable (e.g. path traversal). */
export function recordingNameInvalid(what: string, value: string): GatehouseError {
  return new GatehouseError('GH_INVALID_ARGUMENT', {
    message: 'invalid recording name',
    detail: `${what} ${JSON.stringify(value.slice(0, 200))} is not allowed`,
  });
}

/** Describes a thrown value for a detail, keeping an errno code such as ENOSPC. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === undefined ? err.message : `${code}: ${err.message}`;
  }
  return String(err);
}
