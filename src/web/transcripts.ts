import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DbTranscriptStore, isDbTranscriptPath, type DbTranscript } from '../recording/index.js';
import { recordingDayDir } from '../recording/recording-names.js';
import { parseRecordingColumn, type SessionFiles } from './recording-files.js';

const DAY_MS = 86_400_000;
const MAX_SCAN_DAYS = 31;
const SID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The store-relative path of a database session's query transcript
 * (`YYYY/MM/DD/<sid>.db.ndjson`, src/recording/db-transcript.ts): listed in the session's
 * `recording` column once it ended, found in the day folders while it runs.
 */
export async function findTranscript(
  root: string,
  session: SessionFiles,
  now: number,
): Promise<string | undefined> {
  const listed = parseRecordingColumn(session.recording).find(isDbTranscriptPath);
  if (listed !== undefined) return listed;
  if (!SID_RE.test(session.sid)) return undefined;
  const name = `${session.sid}.db.ndjson`;
  const last = Math.min(session.ended_at ?? now, session.started_at + MAX_SCAN_DAYS * DAY_MS);
  for (let day = session.started_at - (session.started_at % DAY_MS); day <= last; day += DAY_MS) {
    const dayDir = recordingDayDir(day);
    try {
      if ((await readdir(resolve(root, ...dayDir.split('/')))).includes(name))
        return `${dayDir}/${name}`;
    } catch {
      // no folder for that day
    }
  }
  return undefined;
}

/** One statement (or denial, cancel, end) of a transcript, with its wall-clock time. */
export type TranscriptEntryView = Record<string, unknown> & {
  readonly t: number;
  readonly type: string;
  readonly time: number;
};

/** Reads a transcript and pages its entries; each gets `time` = header `startedAt` + `t`. */
export async function readTranscriptPage(
  root: string,
  relPath: string,
  options: { readonly offset: number; readonly limit: number },
): Promise<{ transcript: DbTranscript; entries: TranscriptEntryView[]; hasMore: boolean }> {
  const transcript = await new DbTranscriptStore(root).read(relPath);
  const page = transcript.entries.slice(options.offset, options.offset + options.limit);
  return {
    transcript,
    entries: page.map((e) => normalizeEntry(e, transcript.header.startedAt)),
    hasMore: transcript.entries.length > options.offset + options.limit,
  };
}

/**
 * One entry as the console shows it, whichever front end wrote it: `status` is `ok` or
 * `error` for statements, `error` the server's message and `sqlstate` its SQLSTATE (MySQL
 * writes `error` as `{code, sqlState, message}`, PostgreSQL as a string beside `sqlstate`).
 */
export function normalizeEntry(
  e: Readonly<Record<string, unknown>> & { readonly t: number; readonly type: string },
  startedAt: number,
): TranscriptEntryView {
  const err = e['error'];
  const errObj =
    typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : undefined;
  const message =
    typeof err === 'string'
      ? err
      : typeof errObj?.['message'] === 'string'
        ? errObj['message']
        : undefined;
  const sqlstate =
    typeof e['sqlstate'] === 'string'
      ? e['sqlstate']
      : typeof errObj?.['sqlState'] === 'string'
        ? errObj['sqlState']
        : undefined;
  const isError = e['status'] === 'error' || err !== undefined;
  const rest = Object.fromEntries(Object.entries(e).filter(([key]) => key !== 'error'));
  return {
    ...rest,
    t: e.t,
    type: e.type,
    time: startedAt + e.t,
    ...(e.type === 'query' ? { status: isError ? 'error' : 'ok' } : {}),
    ...(message === undefined ? {} : { error: message }),
    ...(sqlstate === undefined ? {} : { sqlstate }),
  };
}
