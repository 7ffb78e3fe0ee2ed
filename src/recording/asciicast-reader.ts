import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GatehouseError } from '../core/errors.js';
import {
  ASCIICAST_VERSION,
  isTermSize,
  type AsciicastHeader,
  type GatehouseCastInfo,
  type TermInfo,
} from './asciicast-format.js';
import { recordingInvalid, recordingNameInvalid } from './recording-errors.js';

/** Longest line accepted (header or event); longer input is refused, not buffered. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** One event with its ABSOLUTE time in seconds since the start (v3 stores intervals). */
export interface AsciicastEvent {
  readonly time: number;
  /** `o`, `i`, `m`, `r`, `x`, or a code this reader does not know (passed through). */
  readonly code: string;
  readonly data: string;
}

/** Options of {@link AsciicastReader}. */
export interface AsciicastReadOptions {
  readonly maxLineBytes?: number;
}

interface RawLine {
  readonly lineNo: number;
  readonly bytes: Buffer;
  /** False for a last line without its newline: what a crash mid-write leaves. */
  readonly isTerminated: boolean;
}

/**
 * Streaming asciicast v3 parser: the header is read on open, events are read line by line
 * and never all held. Malformed input throws GH_INVALID_ARGUMENT whose detail names the
 * line (`line 7: interval must be a non-negative number`). A last line cut off without its
 * newline ends the events quietly and sets `isTruncated`: a crash leaves such a file.
 * Comment lines (`#`) and blank lines are skipped.
 */
export class AsciicastReader implements AsyncDisposable {
  /** The parsed header; unknown header keys are ignored, as the spec requires. */
  readonly header: AsciicastHeader;
  readonly #lines: AsyncGenerator<RawLine>;
  #isTruncated = false;
  #isStarted = false;

  private constructor(header: AsciicastHeader, lines: AsyncGenerator<RawLine>) {
    this.header = header;
    this.#lines = lines;
  }

  /** Opens a recording file (a symlink is refused) and reads its header. */
  static async open(path: string, options: AsciicastReadOptions = {}): Promise<AsciicastReader> {
    const handle = await openRecordingFile(path);
    return AsciicastReader.fromStream(handle.createReadStream(), options); // closes the fd at end
  }

  /** Reads the header from a byte stream; the rest is read by `events()`. */
  static async fromStream(
    source: AsyncIterable<Uint8Array | string>,
    options: AsciicastReadOptions = {},
  ): Promise<AsciicastReader> {
    const lines = splitLines(source, options.maxLineBytes ?? MAX_LINE_BYTES);
    try {
      const first = await lines.next();
      if (first.done === true) throw recordingInvalid(1, 'the file is empty');
      return new AsciicastReader(parseHeader(first.value.lineNo, decodeLine(first.value)), lines);
    } catch (err) {
      await lines.return(undefined);
      throw err;
    }
  }

  /** True once `events()` stopped at a cut-off last line. */
  get isTruncated(): boolean {
    return this.#isTruncated;
  }

  /** The events in file order, with absolute times; can be iterated once. */
  async *events(): AsyncGenerator<AsciicastEvent> {
    if (this.#isStarted)
      throw new GatehouseError('GH_INVALID_ARGUMENT', { detail: 'events() was already read' });
    this.#isStarted = true;
    let timeUs = 0; // whole microseconds: sums of ms intervals stay exact
    for await (const raw of this.#lines) {
      let parsed: ParsedEvent | undefined;
      try {
        const text = decodeLine(raw);
        if (text.trim() === '' || text.startsWith('#')) continue;
        parsed = parseEvent(raw.lineNo, text);
      } catch (err) {
        if (raw.isTerminated) throw err;
        this.#isTruncated = true;
        return;
      }
      timeUs += Math.round(parsed.interval * 1e6);
      if (!Number.isSafeInteger(timeUs)) throw recordingInvalid(raw.lineNo, 'time is out of range');
      yield { time: timeUs / 1e6, code: parsed.code, data: parsed.data };
    }
  }

  /** Stops reading and releases the file. */
  async close(): Promise<void> {
    await this.#lines.return(undefined);
  }

  /** Closes the reader (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Returns the recording's bytes for download, after checking that its header is asciicast
 * v3. The same open file is checked and streamed.
 */
export async function exportCast(
  path: string,
  options: AsciicastReadOptions = {},
): Promise<Readable> {
  const handle = await openRecordingFile(path);
  try {
    // Positional reads: a second createReadStream on one FileHandle fails once the first is
    // destroyed (ERR_STREAM_PREMATURE_CLOSE on Node 20).
    const check = await AsciicastReader.fromStream(readChunks(handle), options);
    await check.close();
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle.createReadStream({ start: 0 });
}

async function* readChunks(handle: FileHandle): AsyncGenerator<Uint8Array> {
  const size = 64 * 1024;
  for (let position = 0; ;) {
    const { bytesRead, buffer } = await handle.read({ buffer: Buffer.alloc(size), position });
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

async function openRecordingFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new GatehouseError('GH_NOT_FOUND', {
        detail: `recording ${path} does not exist`,
        cause: err,
      });
    if (code === 'ELOOP') throw recordingNameInvalid('recording path (a symlink)', path);
    throw err;
  }
}

async function* splitLines(
  source: AsyncIterable<Uint8Array | string>,
  maxLineBytes: number,
): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let lineNo = 0;
  const tooLong = (n: number): GatehouseError =>
    recordingInvalid(n, `line is longer than ${maxLineBytes} bytes`);
  for await (const chunk of source) {
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk, 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      const piece = buf.subarray(start, nl);
      lineNo += 1;
      if (partBytes + piece.length > maxLineBytes) throw tooLong(lineNo);
      const bytes = parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      partBytes = 0;
      start = nl + 1;
      yield { lineNo, bytes, isTerminated: true };
    }
    if (start < buf.length) {
      partBytes += buf.length - start;
      if (partBytes > maxLineBytes) throw tooLong(lineNo + 1);
      parts.push(buf.subarray(start));
    }
  }
  if (partBytes > 0) yield { lineNo: lineNo + 1, bytes: Buffer.concat(parts), isTerminated: false };
}

function decodeLine(raw: RawLine): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: raw.lineNo !== 1 }).decode(raw.bytes);
  } catch {
    throw recordingInvalid(raw.lineNo, 'line is not valid UTF-8');
  }
}

function parseJson(lineNo: number, text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw recordingInvalid(lineNo, `${what} is not valid JSON`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseHeader(lineNo: number, text: string): AsciicastHeader {
  if (text.startsWith('#'))
    throw recordingInvalid(lineNo, 'the first line must be the header, not a comment');
  const value = parseJson(lineNo, text, 'header');
  const bad = (problem: string): GatehouseError => recordingInvalid(lineNo, problem);
  if (!isRecord(value)) throw bad('header must be a JSON object');
  if (value['version'] !== ASCIICAST_VERSION) {
    throw bad(
      `version ${JSON.stringify(value['version']) ?? 'missing'} is not supported (expected ${ASCIICAST_VERSION})`,
    );
  }
  const term = value['term'];
  if (!isRecord(term)) throw bad('term must be an object');
  if (!isTermSize(term['cols']) || !isTermSize(term['rows']))
    throw bad('term.cols and term.rows must be positive integers');
  const type = optionalString(term, 'type', 'term.type', bad);
  const termInfo: TermInfo = {
    cols: term['cols'],
    rows: term['rows'],
    ...(type === undefined ? {} : { type }),
  };
  const timestamp = value['timestamp'];
  if (timestamp !== undefined && (typeof timestamp !== 'number' || !Number.isFinite(timestamp))) {
    throw bad('timestamp must be a number');
  }
  const title = optionalString(value, 'title', 'title', bad);
  const gatehouse =
    value['gatehouse'] === undefined ? undefined : parseGatehouseInfo(value['gatehouse'], bad);
  return {
    version: ASCIICAST_VERSION,
    term: termInfo,
    ...(timestamp === undefined ? {} : { timestamp }),
    ...(title === undefined ? {} : { title }),
    ...(gatehouse === undefined ? {} : { gatehouse }),
  };
}

function parseGatehouseInfo(
  value: unknown,
  bad: (problem: string) => GatehouseError,
): GatehouseCastInfo {
  if (!isRecord(value)) throw bad('gatehouse must be an object');
  const { sid, user, target, channel } = value;
  if (typeof sid !== 'string' || typeof user !== 'string' || typeof target !== 'string') {
    throw bad('gatehouse.sid, gatehouse.user and gatehouse.target must be strings');
  }
  if (
    channel !== undefined &&
    (typeof channel !== 'number' || !Number.isSafeInteger(channel) || channel < 0)
  ) {
    throw bad('gatehouse.channel must be a whole number');
  }
  return channel === undefined ? { sid, user, target } : { sid, user, target, channel };
}

function optionalString(
  record: Record<string, unknown>,
  key: string,
  name: string,
  bad: (problem: string) => GatehouseError,
): string | undefined {
  const value = record[key];
  if (value !== undefined && typeof value !== 'string') throw bad(`${name} must be a string`);
  return value;
}

interface ParsedEvent {
  readonly interval: number;
  readonly code: string;
  readonly data: string;
}

// v3 §Event stream: [interval, code, data].
function parseEvent(lineNo: number, text: string): ParsedEvent {
  const value = parseJson(lineNo, text, 'event');
  if (!Array.isArray(value) || value.length !== 3)
    throw recordingInvalid(lineNo, 'event must be an array [interval, code, data]');
  const [interval, code, data] = value as [unknown, unknown, unknown];
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
    throw recordingInvalid(lineNo, 'interval must be a non-negative number');
  }
  if (typeof code !== 'string' || code === '')
    throw recordingInvalid(lineNo, 'event code must be a non-empty string');
  if (typeof data !== 'string') throw recordingInvalid(lineNo, 'event data must be a string');
  if (code === 'r' && !/^\d{1,5}x\d{1,5}$/.test(data))
    throw recordingInvalid(lineNo, 'resize data must be COLSxROWS');
  return { interval, code, data };
}
