import { resolve } from 'node:path';
import { assertRecordingRelPath } from '../recording/index.js';
import { findSessionFiles } from '../recording/session-files.js';

/** One channel's recording of a session. */
export interface RecordingRef {
  readonly channel: number;
  /** Store-relative `YYYY/MM/DD/<sid>-<channel>.cast`. */
  readonly relPath: string;
}

/** The columns of a session row this module reads. */
export interface SessionFiles {
  readonly sid: string;
  readonly started_at: number;
  readonly ended_at: number | null;
  readonly recording: string | null;
}

/**
 * The recordings of a session. An ended session lists them in its `recording` column; a live
 * one does not yet, so its files are found where the writer puts them: the UTC day folder of
 * each channel's start, `<root>/YYYY/MM/DD/<sid>-<channel>.cast`.
 */
export async function findRecordings(
  root: string,
  session: SessionFiles,
  now: number,
): Promise<RecordingRef[]> {
  const listed = parseRecordingColumn(session.recording).flatMap((relPath) => {
    const channel = channelOf(relPath);
    return channel === undefined ? [] : [{ channel, relPath }];
  });
  if (listed.length > 0) return sortByChannel(listed);
  const found = (
    await findSessionFiles(root, session.sid, session.started_at, session.ended_at ?? now)
  )
    .filter((relPath) => relPath.endsWith('.cast'))
    .flatMap((relPath) => {
      const channel = channelOf(relPath);
      return channel === undefined ? [] : [{ channel, relPath }];
    });
  return sortByChannel(found);
}

/** The absolute path of a checked store-relative recording path. */
export function recordingPath(root: string, relPath: string): string {
  assertRecordingRelPath(relPath);
  return resolve(root, ...relPath.split('/'));
}

/** The relative paths in a session's `recording` column (a JSON array, or one path). */
export function parseRecordingColumn(column: string | null): string[] {
  if (column === null || column === '') return [];
  try {
    const parsed: unknown = JSON.parse(column);
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [column];
  }
}

function channelOf(relPath: string): number | undefined {
  const m = /-(\d{1,10})\.cast$/.exec(relPath);
  return m === null ? undefined : Number(m[1]);
}

function sortByChannel(refs: RecordingRef[]): RecordingRef[] {
  return refs.sort((a, b) => a.channel - b.channel);
}
