import { constants, createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { BoundedLineSink, openWithHeader } from './bounded-line-sink.js';
import { recordingNameInvalid } from './recording-errors.js';
import { assertSafeSid, recordingDayDir } from './recording-names.js';
import type { RecordingSink } from './recording-sink.js';

/**
 * Database session transcripts (DESIGN.md §6): NDJSON, one header line then one line per
 * statement (SQL as redacted by src/db/redact.ts, timing, outcome, rows), for replay in the
 * console. Written as it happens and flushed at least every second, so a crash loses at most
 * a second and leaves a file that still reads (a cut last line is ignored).
 */

/** Format name in the header line. */
export const DB_TRANSCRIPT_FORMAT = 'gatehouse-db-transcript';
/** Format version in the header line. */
export const DB_TRANSCRIPT_VERSION = 1;
/** Longest time a line stays in memory before it is written. */
export const DB_TRANSCRIPT_FLUSH_INTERVAL_MS = 1_000;
/** Buffered bytes that trigger a write before the timer. */
export const DB_TRANSCRIPT_FLUSH_THRESHOLD_BYTES = 64 * 1024;
/** Buffered bytes beyond which `needsDrain` asks the relay to wait. */
export const DB_TRANSCRIPT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Longest transcript line read back. */
export const DB_TRANSCRIPT_MAX_LINE_BYTES = 1024 * 1024;
const REL_PATH_PATTERN = /^\d{4}\/\d{2}\/\d{2}\/[A-Za-z0-9_-]{1,128}\.db\.ndjson$/;

/** Who and what a transcript is of. */
export interface DbTranscriptMeta {
  readonly sid: string;
  readonly user: string;
  readonly target: string;
  /** `postgres` or `mysql`. */
  readonly protocol: string;
  /** The leased account upstream. */
  readonly account: string;
  readonly database: string | null;
}

/** The header line. */
export interface DbTranscriptHeader extends DbTranscriptMeta {
  readonly format: typeof DB_TRANSCRIPT_FORMAT;
  readonly version: number;
  /** Wall-clock start, ms since the epoch; entry times are relative to it. */
  readonly startedAt: number;
}

/** One line after the header: `t` (ms since start) and `type` (`query`, `denied`, `cancel`, `end`, …). */
export interface DbTranscriptEntry {
  readonly t: number;
  readonly type: string;
  readonly [field: string]: unknown;
}

/** Options of {@link DbTranscriptWriter.create}. */
export interface DbTranscriptWriterOptions {
  readonly wallClock?: Clock;
  /** Entry times (default `performance.now`). */
  readonly clock?: () => number;
  readonly flushIntervalMs?: number;
  readonly flushThresholdBytes?: number;
  readonly maxBufferedBytes?: number;
  /** Told once when writing fails; the session should end (it can no longer be recorded). */
  readonly onError?: (err: GatehouseError) => void;
  readonly openSink?: (path: string) => Promise<RecordingSink>;
}

/** A finished transcript, for `session.end`. */
export interface DbTranscriptResult {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * Appends NDJSON lines to one transcript file. `append` is synchronous and buffers; a timer
 * writes at least every `flushIntervalMs` (sooner past the threshold), one write at a time.
 * Past `maxBufferedBytes` `needsDrain` is true and `drain()` waits; far past it, or on a
 * write error, the writer fails once (`onError`), and `close()` rejects. The write path is
 * the {@link BoundedLineSink} shared with terminal recordings.
 */
export class DbTranscriptWriter implements AsyncDisposable {
  /** Lines not written yet, as text: encoded once per write. */
  readonly #lines: BoundedLineSink<string>;
  readonly #clock: () => number;
  readonly #startMs: number;
  #lastT = 0;
  #isClosed = false;
  #closing: Promise<DbTranscriptResult> | undefined;

  private constructor(sink: RecordingSink, header: Buffer, options: DbTranscriptWriterOptions) {
    this.#clock = options.clock ?? (() => performance.now());
    this.#startMs = this.#clock();
    this.#lines = new BoundedLineSink(sink, header, {
      encode: (lines) => Buffer.from(lines.join(''), 'utf8'),
      clock: this.#clock,
      flushIntervalMs: options.flushIntervalMs ?? DB_TRANSCRIPT_FLUSH_INTERVAL_MS,
      flushThresholdBytes: options.flushThresholdBytes ?? DB_TRANSCRIPT_FLUSH_THRESHOLD_BYTES,
      maxBufferedBytes: options.maxBufferedBytes ?? DB_TRANSCRIPT_MAX_BUFFERED_BYTES,
      noun: 'transcript',
      onError: options.onError,
    });
  }

  /** Creates `path` (it must not exist) and writes the header line. */
  static async create(
    path: string,
    meta: DbTranscriptMeta,
    options: DbTranscriptWriterOptions = {},
  ): Promise<DbTranscriptWriter> {
    assertSafeSid(meta.sid);
    const header: DbTranscriptHeader = {
      format: DB_TRANSCRIPT_FORMAT,
      version: DB_TRANSCRIPT_VERSION,
      ...pickMeta(meta),
      startedAt: (options.wallClock ?? systemClock)(),
    };
    const line = Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
    const sink = await openWithHeader(path, line, options.openSink);
    return new DbTranscriptWriter(sink, line, options);
  }

  /** The file being written. */
  get path(): string {
    return this.#lines.path;
  }

  /** True while the caller should stop producing and await `drain()` (also once failed). */
  get needsDrain(): boolean {
    return this.#lines.needsDrain;
  }

  /** Why writing failed, or undefined while healthy. */
  get failure(): GatehouseError | undefined {
    return this.#lines.failure;
  }

  /** Appends one entry (`t` is added); false when the caller should wait for `drain()`. */
  append(type: string, fields: Readonly<Record<string, unknown>>): boolean {
    if (this.#isClosed || this.#lines.failure !== undefined) return false;
    const t = Math.max(this.#lastT, Math.round(this.#clock() - this.#startMs));
    this.#lastT = t;
    // `{"t":…,"type":…,` then the fields: the same line as JSON.stringify({ t, type, ...fields })
    // for fields without `t` or `type`, without copying them into a new object.
    const body = JSON.stringify(fields);
    const line =
      Object.hasOwn(fields, 't') || Object.hasOwn(fields, 'type')
        ? `${JSON.stringify({ t, type, ...fields })}\n`
        : `{"t":${t},"type":${JSON.stringify(type)}${body === '{}' ? '}' : `,${body.slice(1)}`}\n`;
    return this.#lines.push(line, Buffer.byteLength(line, 'utf8'));
  }

  /** Resolves once the buffer is below the limit; rejects with the failure. */
  drain(): Promise<void> {
    return this.#lines.drain();
  }

  /** Ends the transcript: writes out, fsyncs, closes; gives path, SHA-256 and size. Idempotent. */
  close(): Promise<DbTranscriptResult> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes the transcript (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #close(): Promise<DbTranscriptResult> {
    this.#isClosed = true;
    return this.#lines.close();
  }
}

/** A transcript opened in a store, with the store-relative path kept in the session row. */
export interface OpenedDbTranscript {
  /** `YYYY/MM/DD/<sid>.db.ndjson`. */
  readonly relPath: string;
  readonly writer: DbTranscriptWriter;
}

/** A transcript read back: its header, its entries, and whether its last line was cut (crash). */
export interface DbTranscript {
  readonly header: DbTranscriptHeader;
  readonly entries: DbTranscriptEntry[];
  readonly isTruncated: boolean;
}

/**
 * Transcripts in the recordings directory, beside the terminal recordings:
 * `<root>/YYYY/MM/DD/<sid>.db.ndjson` (directories 0750, files 0640). Relative paths are
 * accepted only in exactly that form.
 */
export class DbTranscriptStore {
  readonly #root: string;
  readonly #wallClock: Clock;

  constructor(root: string, options: { readonly wallClock?: Clock } = {}) {
    this.#root = resolve(root);
    this.#wallClock = options.wallClock ?? systemClock;
  }

  /** Creates the transcript of session `meta.sid`; it must not exist yet. */
  async open(
    meta: DbTranscriptMeta,
    options: DbTranscriptWriterOptions = {},
  ): Promise<OpenedDbTranscript> {
    assertSafeSid(meta.sid);
    const dayDir = recordingDayDir((options.wallClock ?? this.#wallClock)());
    let dir = this.#root;
    await mkdir(dir, { recursive: true, mode: 0o750 });
    for (const part of dayDir.split('/')) {
      dir = join(dir, part);
      try {
        await mkdir(dir, { mode: 0o750 });
        await chmod(dir, 0o750);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const relPath = `${dayDir}/${meta.sid}.db.ndjson`;
    const writer = await DbTranscriptWriter.create(join(dir, `${meta.sid}.db.ndjson`), meta, {
      wallClock: this.#wallClock,
      ...options,
    });
    return { relPath, writer };
  }

  /** Reads a transcript named by its store-relative path. */
  async read(relPath: string): Promise<DbTranscript> {
    return readDbTranscript(this.resolve(relPath));
  }

  /** The absolute path of a checked relative path. */
  resolve(relPath: string): string {
    if (!REL_PATH_PATTERN.test(relPath)) throw recordingNameInvalid('transcript path', relPath);
    const path = resolve(this.#root, ...relPath.split('/'));
    const rel = relative(this.#root, path);
    if (rel.startsWith('..') || rel.split(sep).length !== 4)
      throw recordingNameInvalid('transcript path', relPath);
    return path;
  }
}

/** True when `relPath` has the form of a transcript path (`YYYY/MM/DD/<sid>.db.ndjson`). */
export function isDbTranscriptPath(relPath: string): boolean {
  return REL_PATH_PATTERN.test(relPath);
}

/**
 * Reads a transcript file (not following a symlink). Throws GH_RECORDING_INVALID naming the
 * line when the header or a line is malformed; a last line without its newline (a crash
 * mid-write) is dropped and `isTruncated` set.
 */
export async function readDbTranscript(
  path: string,
  options: { readonly maxLineBytes?: number } = {},
): Promise<DbTranscript> {
  const maxLineBytes = options.maxLineBytes ?? DB_TRANSCRIPT_MAX_LINE_BYTES;
  if ((await lstat(path)).isSymbolicLink())
    throw recordingNameInvalid('transcript (a symlink)', path);
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  const size = (await handle.stat()).size;
  await handle.close();
  let header: DbTranscriptHeader | undefined;
  const entries: DbTranscriptEntry[] = [];
  let lineNo = 0;
  let readBytes = 0;
  let isTruncated = false;
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8', highWaterMark: 64 * 1024 }),
    crlfDelay: Infinity,
  });
  for await (const line of lines) {
    lineNo += 1;
    const bytes = Buffer.byteLength(line, 'utf8');
    readBytes += bytes + 1;
    if (bytes > maxLineBytes) throw invalid(lineNo, `line longer than ${maxLineBytes} bytes`);
    if (readBytes > size) {
      // No newline after this line: cut off by a crash.
      isTruncated = true;
      break;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw invalid(lineNo, 'not JSON');
    }
    if (header === undefined) {
      header = asHeader(value, lineNo);
      continue;
    }
    if (!isEntry(value)) throw invalid(lineNo, 'an entry needs a numeric "t" and a string "type"');
    entries.push(value);
  }
  if (header === undefined) throw invalid(1, 'missing header');
  return { header, entries, isTruncated };
}

function asHeader(value: unknown, lineNo: number): DbTranscriptHeader {
  if (typeof value !== 'object' || value === null) throw invalid(lineNo, 'header is not an object');
  const h = value as Record<string, unknown>;
  if (h['format'] !== DB_TRANSCRIPT_FORMAT)
    throw invalid(lineNo, `format must be ${DB_TRANSCRIPT_FORMAT}`);
  if (h['version'] !== DB_TRANSCRIPT_VERSION)
    throw invalid(lineNo, `unsupported version ${String(h['version'])}`);
  for (const key of ['sid', 'user', 'target', 'protocol', 'account'])
    if (typeof h[key] !== 'string') throw invalid(lineNo, `header field ${key} must be a string`);
  if (typeof h['startedAt'] !== 'number')
    throw invalid(lineNo, 'header field startedAt must be a number');
  return value as DbTranscriptHeader;
}

function isEntry(value: unknown): value is DbTranscriptEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return typeof e['t'] === 'number' && e['t'] >= 0 && typeof e['type'] === 'string';
}

function pickMeta(meta: DbTranscriptMeta): DbTranscriptMeta {
  return {
    sid: meta.sid,
    user: meta.user,
    target: meta.target,
    protocol: meta.protocol,
    account: meta.account,
    database: meta.database,
  };
}

function invalid(lineNo: number, problem: string): GatehouseError {
  return new GatehouseError('GH_RECORDING_INVALID', {
    message: 'the transcript is not valid',
    detail: `line ${lineNo}: ${problem}`,
  });
}
