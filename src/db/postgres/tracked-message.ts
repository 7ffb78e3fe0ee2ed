import { BACKEND, FRONTEND } from './protocol/index.js';
import { MAX_PARSED_SQL_BYTES } from './sql-parser.js';

/** Bytes of a Bind kept (parameters for audit). */
const BIND_KEEP_BYTES = 64 * 1024;

/** A message as the relay hands it over: its type and the kept part of its body. */
export interface TrackedMessage {
  readonly type: number;
  readonly body: Buffer | undefined;
  readonly isTruncated: boolean;
}

/** Body bytes the relay keeps for each client message type (others are only counted). */
export function clientKeepBytes(type: number): number {
  switch (type) {
    case FRONTEND.query:
    case FRONTEND.parse:
      return MAX_PARSED_SQL_BYTES + 1;
    case FRONTEND.bind:
      return BIND_KEEP_BYTES;
    case FRONTEND.execute:
    case FRONTEND.describe:
    case FRONTEND.close:
      return 4096;
    case FRONTEND.functionCall:
      return 4;
    default:
      return 0;
  }
}

/** Body bytes the relay keeps for each server message type. */
export function serverKeepBytes(type: number): number {
  switch (type) {
    case BACKEND.errorResponse:
      return 16 * 1024;
    case BACKEND.commandComplete:
      return 1024;
    case BACKEND.readyForQuery:
      return 1;
    default:
      return 0;
  }
}

/** The text up to the NUL, or all of it when the body was cut before the NUL. */
export function cstringPrefix(
  body: Buffer | undefined,
  isTruncated: boolean,
): { text: string | undefined; isCut: boolean } {
  if (body === undefined) return { text: undefined, isCut: false };
  const nul = body.indexOf(0);
  if (nul >= 0) return { text: body.toString('utf8', 0, nul), isCut: false };
  return { text: body.toString('utf8'), isCut: isTruncated };
}

/** A Parse message's statement name and SQL, from a kept body that may be cut in the SQL. */
export function parseParseLenient(
  body: Buffer | undefined,
  isTruncated: boolean,
): { name: string; sql: string | undefined; isCut: boolean } {
  if (body === undefined) return { name: '', sql: undefined, isCut: false };
  const nameEnd = body.indexOf(0);
  if (nameEnd < 0) return { name: '', sql: undefined, isCut: isTruncated };
  const name = body.toString('utf8', 0, nameEnd);
  const rest = cstringPrefix(body.subarray(nameEnd + 1), isTruncated);
  return { name, sql: rest.text, isCut: rest.isCut };
}

/** `f()`, or undefined when it throws (a kept body too cut or malformed to parse). */
export function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
