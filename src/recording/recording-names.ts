import { recordingNameInvalid } from './recording-errors.js';

/** Longest session id accepted in a file name. */
export const MAX_SID_CHARS = 128;

// Whitelists, not blacklists: nothing from outside reaches a path unless it matches.
const SID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const REL_PATH_PATTERN = /^\d{4}\/\d{2}\/\d{2}\/[A-Za-z0-9_-]{1,128}-\d{1,10}\.cast$/;

/** Throws GH_INVALID_ARGUMENT unless `sid` is safe in a file name (letters, digits, `_`, `-`). */
export function assertSafeSid(sid: string): void {
  if (!SID_PATTERN.test(sid)) throw recordingNameInvalid('session id', sid);
}

/** Throws GH_INVALID_ARGUMENT unless `channel` is a whole number ≥ 0. */
export function assertChannel(channel: number): void {
  if (!Number.isSafeInteger(channel) || channel < 0 || channel > 0xffffffff) {
    throw recordingNameInvalid('channel', String(channel));
  }
}

/** The file name of one channel's recording: `<sid>-<channel>.cast`. */
export function recordingFileName(sid: string, channel: number): string {
  assertSafeSid(sid);
  assertChannel(channel);
  return `${sid}-${channel}.cast`;
}

/** The store-relative directory of a day, `YYYY/MM/DD` in UTC. */
export function recordingDayDir(timeMs: number): string {
  const d = new Date(timeMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}`;
}

/** Throws GH_INVALID_ARGUMENT unless `relPath` has the exact form `YYYY/MM/DD/<sid>-<n>.cast`. */
export function assertRecordingRelPath(relPath: string): void {
  if (!REL_PATH_PATTERN.test(relPath)) throw recordingNameInvalid('recording path', relPath);
}
