import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import {
  ASCIICAST_VERSION,
  EVENT_CODES,
  encodeHeaderLine,
  formatResize,
  isTermSize,
  type TermInfo,
} from './asciicast-format.js';
import { encodeEvents, type PendingEvent } from './asciicast-batch.js';
import { BoundedLineSink, openWithHeader } from './bounded-line-sink.js';
import { ChunkLog } from './chunk-log.js';
import { CommandLineTracker, type CommandLine } from './command-line-tracker.js';
import { EchoTracker, maskedText, type SettledInput } from './echo-tracker.js';
import { OutputArena, OutputDecoder } from './output-bytes.js';
import { describeError } from './recording-errors.js';
import { recordingFileName } from './recording-names.js';
import type { RecordingSink } from './recording-sink.js';

/** Longest time written events stay in memory before they are written out. */
export const FLUSH_INTERVAL_MS = 1_000;
/** Buffered bytes that trigger a write before the timer. */
export const FLUSH_THRESHOLD_BYTES = 64 * 1024;
/** Buffered bytes beyond which the writer asks for backpressure (`needsDrain`). */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * Output chunks larger than this are read at once, not logged: they are no keystroke's echo,
 * and logging them would add a copy to every byte of a terminal that prints a lot.
 */
const LOGGED_OUTPUT_MAX_BYTES = 1024;

/** Milliseconds from an arbitrary origin that never go backwards (`performance.now`). */
export type MonotonicClock = () => number;

/** What a recording is of: one channel of one session. */
export interface RecordingMeta {
  readonly sid: string;
  /** SSH channel number; part of the file name. */
  readonly channel: number;
  readonly user: string;
  readonly target: string;
  readonly term: TermInfo;
  readonly title?: string;
}

/** Options of {@link AsciicastWriter.create}. */
export interface AsciicastWriterOptions {
  /** Event times (default `performance.now`). */
  readonly clock?: MonotonicClock;
  /** The header `timestamp` (default the system clock). */
  readonly wallClock?: Clock;
  readonly flushIntervalMs?: number;
  readonly flushThresholdBytes?: number;
  readonly maxBufferedBytes?: number;
  /** Record `i` events, masked while the terminal does not echo (default true). */
  readonly recordInput?: boolean;
  /**
   * How long typed characters wait for their echo (default 250 ms), or a function asked at
   * each decision (a window that follows the target's round trip, `echoWindowFor`).
   */
  readonly echoWindowMs?: number | (() => number);
  /**
   * Output bytes to record (default: all). Past it, output is counted, not recorded: a
   * marker says where recording stopped and `close()` adds one with the byte count. For
   * channels without a terminal, whose output is a data stream (`ssh host 'tar c dir'`).
   */
  readonly maxOutputBytes?: number;
  /**
   * Told once when the recording fails (disk full, I/O error, backpressure ignored). The
   * session should then end: it can no longer be recorded. Must not throw.
   */
  readonly onError?: (err: GatehouseError) => void;
  /**
   * Told of each command line typed at an interactive shell (best effort, never a line
   * typed without echo). The caller writes the marker (`marker(text)`) and audits it.
   */
  readonly onCommandLine?: (line: CommandLine) => void;
  /** Opens the byte sink for the new file (default: create it with mode 0640). */
  readonly openSink?: (path: string) => Promise<RecordingSink>;
}

/** A finished recording: where it is, its SHA-256 (hex) and size, for `session.end`. */
export interface RecordingResult {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** What a line adds to its data in the estimate of buffered bytes (`[0.123, "o", ""]\n`). */
const EVENT_OVERHEAD_BYTES = 16;

/**
 * Writes one session channel as asciicast v3 (DESIGN §6). Event methods are synchronous and
 * buffer whole lines in memory; a timer writes them out at least every `flushIntervalMs`,
 * and sooner past `flushThresholdBytes`, so a crash loses at most about a second and the
 * file always ends on a whole line. Only one write is in flight at a time.
 *
 * Input, and output in chunks of up to 1 KiB (echoes), are only logged when they pass (a copy
 * and a time: {@link ChunkLog}) and read later in batches, with the same result as read one
 * by one: each chunk's events take its time, and the log is read before any other event
 * (larger output included), before the echo timer decides, and in `flush()` and `close()`.
 * It is read when the echo timer fires (so typed keys are decided, and command lines told,
 * within the echo window), past the flush threshold, and by a timer that then writes, at
 * least every `flushIntervalMs`.
 *
 * Backpressure: event methods return false (and `needsDrain` is true) once
 * `maxBufferedBytes` wait for a slow disk; the relay should stop reading and await
 * `drain()`. Nothing is dropped; a caller ignoring it far past the limit fails the writer.
 *
 * Failure (ENOSPC, EIO, ...): reported once to `onError`, `failure` is set, `drain()` and
 * `close()` reject with it, event methods return false. Nothing is thrown from an event
 * method and no promise is left rejected unobserved. The write path (buffer, flush, paced
 * sync, failure) is the {@link BoundedLineSink} shared with database transcripts.
 */
export class AsciicastWriter implements AsyncDisposable {
  /** Events not encoded yet wait here: encoding waits for the flush, off the keystroke's path. */
  readonly #lines: BoundedLineSink<PendingEvent>;
  readonly #clock: MonotonicClock;
  readonly #startMs: number;
  readonly #recordInput: boolean;
  readonly #maxOutputBytes: number;
  readonly #onCommandLine: ((line: CommandLine) => void) | undefined;
  readonly #echo: EchoTracker | undefined;
  readonly #commands: CommandLineTracker | undefined;
  /** Output valid as UTF-8 kept as bytes, the rest decoded. */
  readonly #outputDecoder = new OutputDecoder();
  /** Copies of the output bytes of events waiting for their batch. */
  readonly #arena: OutputArena;
  readonly #inputDecoder = new StringDecoder('utf8');
  /** Input and output not read yet. */
  readonly #log: ChunkLog;
  /** Bytes in the log that make it be read at once (flush threshold, or the buffer limit). */
  readonly #logLimitBytes: number;
  readonly #flushIntervalMs: number;
  /** Reads the log (and writes) at least every flush interval while chunks are logged. */
  #logTimer: NodeJS.Timeout | undefined;
  /** While the log is read: the time of the chunk being read, which its events take. */
  #readingAtMs: number | undefined;
  /** Output bytes seen (recorded or not). */
  #outputBytes = 0;
  /** Output bytes recorded before the limit stopped it. */
  #recordedOutputBytes = 0;
  #isOutputCapped = false;
  #lastAbsMs = 0;
  #echoTimer: NodeJS.Timeout | undefined;
  #isClosed = false;
  #closing: Promise<RecordingResult> | undefined;

  private constructor(sink: RecordingSink, header: Buffer, options: AsciicastWriterOptions) {
    this.#clock = options.clock ?? (() => performance.now());
    this.#startMs = this.#clock();
    const onError = options.onError;
    const flushThresholdBytes = positive(
      options.flushThresholdBytes ?? FLUSH_THRESHOLD_BYTES,
      'flushThresholdBytes',
    );
    const maxBufferedBytes = positive(
      options.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
      'maxBufferedBytes',
    );
    this.#flushIntervalMs = positive(
      options.flushIntervalMs ?? FLUSH_INTERVAL_MS,
      'flushIntervalMs',
    );
    this.#arena = new OutputArena(flushThresholdBytes);
    this.#logLimitBytes = Math.min(flushThresholdBytes, maxBufferedBytes);
    this.#log = new ChunkLog(this.#logLimitBytes);
    this.#lines = new BoundedLineSink(sink, header, {
      encode: (events) => {
        const batch = encodeEvents(events);
        this.#arena.release();
        return batch;
      },
      clock: this.#clock,
      flushIntervalMs: this.#flushIntervalMs,
      flushThresholdBytes,
      maxBufferedBytes,
      noun: 'recording',
      onError: (err) => {
        clearTimeout(this.#echoTimer);
        clearTimeout(this.#logTimer);
        onError?.(err);
      },
    });
    this.#recordInput = options.recordInput ?? true;
    this.#maxOutputBytes =
      options.maxOutputBytes === undefined
        ? Number.POSITIVE_INFINITY
        : positive(options.maxOutputBytes, 'maxOutputBytes');
    this.#onCommandLine = options.onCommandLine;
    if (this.#recordInput || this.#onCommandLine !== undefined) {
      this.#echo = new EchoTracker(
        options.echoWindowMs === undefined ? {} : { windowMs: options.echoWindowMs },
      );
    }
    if (this.#onCommandLine !== undefined) this.#commands = new CommandLineTracker();
  }

  /**
   * Creates `<dir>/<sid>-<channel>.cast` (it must not exist) and writes the header. Throws
   * GH_INVALID_ARGUMENT for an unsafe sid or bad terminal size, GH_ALREADY_EXISTS, or the
   * failure to create the file.
   */
  static async create(
    dir: string,
    meta: RecordingMeta,
    options: AsciicastWriterOptions = {},
  ): Promise<AsciicastWriter> {
    const path = join(dir, recordingFileName(meta.sid, meta.channel));
    if (!isTermSize(meta.term.cols) || !isTermSize(meta.term.rows)) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        detail: `terminal size ${meta.term.cols}x${meta.term.rows}`,
      });
    }
    const header = Buffer.from(
      encodeHeaderLine({
        version: ASCIICAST_VERSION,
        term: meta.term,
        timestamp: Math.floor((options.wallClock ?? systemClock)() / 1000),
        ...(meta.title === undefined ? {} : { title: meta.title }),
        gatehouse: { sid: meta.sid, user: meta.user, target: meta.target, channel: meta.channel },
      }),
      'utf8',
    );
    checkTuning(options); // before the file exists, so a bad option leaves nothing behind
    const sink = await openWithHeader(path, header, options.openSink);
    const writer = new AsciicastWriter(sink, header, options);
    return writer;
  }

  /** The file being written. */
  get path(): string {
    return this.#lines.path;
  }

  /** True while the relay should stop reading and await `drain()` (also once failed). */
  get needsDrain(): boolean {
    return this.#lines.needsDrain;
  }

  /** Why the recording failed, or undefined while it is healthy. */
  get failure(): GatehouseError | undefined {
    return this.#lines.failure;
  }

  /**
   * Records output from the target; multibyte characters may be split across chunks.
   */
  output(data: Uint8Array): boolean {
    if (!this.#isOpen) return false;
    this.#outputBytes += data.byteLength;
    if (this.#isOutputCapped) return !this.needsDrain;
    if (data.byteLength <= LOGGED_OUTPUT_MAX_BYTES) this.#logChunk(false, data);
    else {
      this.#readLog();
      this.#readOutput(asBuffer(data));
    }
    if (this.#outputBytes >= this.#maxOutputBytes) {
      this.#readLog();
      this.#capOutput(this.#now());
    }
    return !this.needsDrain;
  }

  /** Records keys typed by the user, masked while the terminal does not echo them. */
  input(data: Uint8Array): boolean {
    if (!this.#isOpen) return false;
    if (this.#echo === undefined) return !this.needsDrain; // recordInput: false, no tracking
    const atMs = this.#logChunk(true, data);
    // The echo timer runs while typed keys wait for their echo. It stops only once none is
    // held, and every key logged since then found it running or started it: so a key that
    // finds it idle is the oldest one waiting, and its window is the next deadline.
    if (this.#echoTimer === undefined) this.#armEchoTimer(atMs + this.#echo.windowMs);
    return !this.needsDrain;
  }

  /** Records a terminal resize (`r` event, `COLSxROWS`); ignores impossible sizes. */
  resize(cols: number, rows: number): boolean {
    if (!this.#isOpen) return false;
    if (!isTermSize(cols) || !isTermSize(rows)) return !this.needsDrain;
    this.#readLog();
    return this.#event(this.#now(), EVENT_CODES.resize, formatResize(cols, rows));
  }

  /** Records a marker (`m` event), e.g. a command line. */
  marker(label: string): boolean {
    if (!this.#isOpen) return false;
    this.#readLog();
    return this.#event(this.#now(), EVENT_CODES.marker, label);
  }

  /** Records the exit status of the session's program (`x` event); ignores a non-integer. */
  exit(status: number): boolean {
    if (!this.#isOpen) return false;
    if (!Number.isSafeInteger(status)) return !this.needsDrain;
    this.#readLog();
    return this.#event(this.#now(), EVENT_CODES.exit, String(status));
  }

  /** Resolves once buffered bytes are below the limit; rejects with the failure if any. */
  drain(): Promise<void> {
    return this.#lines.drain();
  }

  /** Writes out everything buffered; rejects with the failure if the recording failed. */
  flush(): Promise<void> {
    if (this.#isOpen) this.#readLog();
    return this.#lines.flush();
  }

  /**
   * Ends the recording: masks input still waiting for echo, writes out, fsyncs and closes.
   * Resolves with path, SHA-256 and size; rejects with the failure if any write failed.
   * Calling it again returns the same promise.
   */
  close(): Promise<RecordingResult> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes the recording (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<RecordingResult> {
    if (this.#isOpen) {
      this.#readLog();
      const unrecorded = this.#outputBytes - this.#recordedOutputBytes;
      if (this.#isOutputCapped) {
        if (unrecorded > 0) {
          this.#event(
            this.#now(),
            EVENT_CODES.marker,
            `output not recorded: ${unrecorded} bytes (${this.#outputBytes} in all)`,
          );
        }
      } else {
        const tail = this.#outputDecoder.end();
        if (tail !== '') this.#event(this.#now(), EVENT_CODES.output, tail);
      }
      if (this.#echo !== undefined) {
        const typed = this.#inputDecoder.end();
        if (typed !== '') this.#settled(this.#echo.input(typed, this.#now()));
        this.#settled(this.#echo.settleAll());
      }
    }
    this.#isClosed = true;
    clearTimeout(this.#echoTimer);
    clearTimeout(this.#logTimer);
    return this.#lines.close();
  }

  // Logs a chunk of input or output, to be read with the next batch (see the class comment);
  // returns its time.
  #logChunk(isInput: boolean, data: Uint8Array): number {
    const atMs = Math.round(this.#sinceStartMs());
    if (data.byteLength === 0) return atMs;
    this.#log.add(atMs, isInput, data);
    if (this.#log.bytes >= this.#logLimitBytes) this.#readLog();
    else {
      this.#logTimer ??= setTimeout(() => {
        this.#logTimer = undefined;
        if (!this.#isOpen) return;
        this.#readLog();
        // A failure is told to onError; the next flush() or close() rejects with it.
        void this.#lines.flush().catch(() => undefined);
      }, this.#flushIntervalMs).unref();
    }
    return atMs;
  }

  // Reads the logged chunks, oldest first, as they would have been read when they passed:
  // each one's events (and markers written meanwhile, e.g. of a command line) take its time.
  #readLog(): void {
    if (this.#readingAtMs !== undefined || this.#log.isEmpty) return;
    try {
      this.#log.read((atMs, isInput, bytes) => {
        if (!this.#isOpen) return; // failed while reading
        this.#readingAtMs = atMs;
        if (isInput) this.#readInput(bytes);
        else this.#readOutput(bytes);
      });
    } finally {
      this.#readingAtMs = undefined;
    }
  }

  #readOutput(bytes: Buffer): void {
    const text = this.#outputDecoder.write(bytes);
    if (text.length === 0) return;
    const atMs = this.#now();
    if (this.#echo?.isHolding === true) {
      this.#settled(this.#echo.output(typeof text === 'string' ? text : text.toString('utf8')));
    }
    this.#event(atMs, EVENT_CODES.output, typeof text === 'string' ? text : this.#arena.copy(text));
  }

  #readInput(bytes: Buffer): void {
    if (this.#echo === undefined) return;
    const text = this.#inputDecoder.write(bytes);
    if (text !== '') this.#settled(this.#echo.input(text, this.#now()));
  }

  // Stops recording output (the limit is reached): ends a character cut by the limit, and
  // marks the place.
  #capOutput(atMs: number): void {
    this.#isOutputCapped = true;
    this.#recordedOutputBytes = this.#outputBytes;
    const tail = this.#outputDecoder.end();
    if (tail !== '') this.#event(atMs, EVENT_CODES.output, tail);
    this.#event(
      atMs,
      EVENT_CODES.marker,
      `output past ${this.#recordedOutputBytes} bytes is not recorded`,
    );
  }

  get #isOpen(): boolean {
    return !this.#isClosed && this.#lines.failure === undefined;
  }

  // Milliseconds since the start, whole, never before the last event written (a clock
  // that steps back must not produce a negative interval); while the log is read, the time
  // of the chunk being read.
  #now(): number {
    const atMs = this.#readingAtMs ?? Math.round(this.#sinceStartMs());
    return Math.max(this.#lastAbsMs, atMs);
  }

  // Milliseconds since the recording started, as the clock reads them now.
  #sinceStartMs(): number {
    return this.#clock() - this.#startMs;
  }

  // Queues an event; its line is encoded when the batch is written (encodeEvents).
  #event(atMs: number, code: string, data: string | Buffer): boolean {
    if (this.#lines.failure !== undefined) return false;
    const absMs = Math.max(atMs, this.#lastAbsMs);
    const event = { intervalMs: absMs - this.#lastAbsMs, code, data };
    this.#lastAbsMs = absMs;
    return this.#lines.push(event, data.length + EVENT_OVERHEAD_BYTES);
  }

  // Writes settled input as `i` events (one per typed chunk) and passes it to the
  // command-line tracker.
  #settled(tokens: readonly SettledInput[]): void {
    if (tokens.length === 0) return;
    if (this.#recordInput) {
      let start = 0;
      for (let i = 1; i <= tokens.length; i += 1) {
        if (i === tokens.length || tokens[i]?.atMs !== tokens[start]?.atMs) {
          const group = tokens.slice(start, i);
          this.#event(group[0]?.atMs ?? this.#lastAbsMs, EVENT_CODES.input, maskedText(group));
          start = i;
        }
      }
    }
    if (this.#commands !== undefined && this.#onCommandLine !== undefined) {
      for (const line of this.#commands.push(tokens)) {
        try {
          this.#onCommandLine(line);
        } catch (err) {
          // may run in a timer: a throwing callback must not take the process down
          process.emitWarning(`onCommandLine threw: ${describeError(err)}`);
        }
      }
    }
  }

  // One timer at a time, not one per keystroke: it is armed for the oldest held token's
  // deadline, and later tokens only have later deadlines, so it never fires late; firing
  // early (the window grew meanwhile) settles nothing and arms it again for what is then the
  // oldest. A window that shrank meanwhile is acted on when the timer fires: later, never
  // sooner, than the shorter window.
  #armEchoTimer(deadline = this.#echo?.nextDeadlineMs): void {
    if (this.#echoTimer !== undefined) return;
    if (deadline === undefined) return;
    const delay = Math.max(0, deadline - this.#sinceStartMs());
    this.#echoTimer = setTimeout(() => {
      // Decided after this turn's I/O, not in its timer phase: on a busy event loop the echo
      // may have arrived while the window ran out and would be read only after the timer.
      setImmediate(() => {
        this.#echoTimer = undefined;
        if (this.#echo === undefined || !this.#isOpen) return;
        this.#readLog();
        this.#settled(this.#echo.settleDue(this.#now()));
        this.#armEchoTimer();
      });
    }, delay + 1).unref();
  }
}

// The relay hands Buffers already; other views are wrapped, not copied.
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function checkTuning(options: AsciicastWriterOptions): void {
  const { flushIntervalMs, flushThresholdBytes, maxBufferedBytes, echoWindowMs, maxOutputBytes } =
    options;
  for (const [name, value] of Object.entries({
    flushIntervalMs,
    flushThresholdBytes,
    maxBufferedBytes,
    echoWindowMs: typeof echoWindowMs === 'function' ? undefined : echoWindowMs,
    maxOutputBytes,
  })) {
    if (value !== undefined) positive(value, name);
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      detail: `${name} must be positive, got ${value}`,
    });
  }
  return value;
}
