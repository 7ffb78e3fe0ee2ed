import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import {
  ASCIICAST_VERSION,
  EVENT_CODES,
  encodeEventLine,
  encodeHeaderLine,
  formatResize,
  isTermSize,
  type TermInfo,
} from './asciicast-format.js';
import { CommandLineTracker, type CommandLine } from './command-line-tracker.js';
import { EchoTracker, maskedText, type SettledInput } from './echo-tracker.js';
import { describeError, recordingWriteFailed } from './recording-errors.js';
import { recordingFileName } from './recording-names.js';
import { openFileSink, type RecordingSink } from './recording-sink.js';

/** Longest time written events stay in memory before they are written out. */
export const FLUSH_INTERVAL_MS = 1_000;
/** Buffered bytes that trigger a write before the timer. */
export const FLUSH_THRESHOLD_BYTES = 64 * 1024;
/** Buffered bytes beyond which the writer asks for backpressure (`needsDrain`). */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** How far past MAX_BUFFERED_BYTES a caller may ignore backpressure before the writer fails. */
const HARD_LIMIT_FACTOR = 4;

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
  /** How long typed characters wait for their echo (default 250 ms). */
  readonly echoWindowMs?: number;
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

/** An event waiting to be encoded: its interval to the previous event, code and data. */
interface PendingEvent {
  readonly intervalMs: number;
  readonly code: string;
  readonly data: string;
}

/** What a line adds to its data in the estimate of buffered bytes (`[0.123, "o", ""]\n`). */
const EVENT_OVERHEAD_BYTES = 16;

/** Encodes queued events as asciicast lines, in one buffer. */
function encodeEvents(events: readonly PendingEvent[]): Buffer {
  return Buffer.from(
    events.map((e) => encodeEventLine(e.intervalMs, e.code, e.data)).join(''),
    'utf8',
  );
}

interface DrainWaiter {
  resolve(): void;
  reject(err: GatehouseError): void;
}

/**
 * Writes one session channel as asciicast v3 (DESIGN §6). Event methods are synchronous and
 * buffer whole lines in memory; a timer writes them out at least every `flushIntervalMs`,
 * and sooner past `flushThresholdBytes`, so a crash loses at most about a second and the
 * file always ends on a whole line. Only one write is in flight at a time.
 *
 * Backpressure: event methods return false (and `needsDrain` is true) once
 * `maxBufferedBytes` wait for a slow disk; the relay should stop reading and await
 * `drain()`. Nothing is dropped; a caller ignoring it far past the limit fails the writer.
 *
 * Failure (ENOSPC, EIO, ...): reported once to `onError`, `failure` is set, `drain()` and
 * `close()` reject with it, event methods return false. Nothing is thrown from an event
 * method and no promise is left rejected unobserved.
 */
export class AsciicastWriter implements AsyncDisposable {
  readonly #sink: RecordingSink;
  readonly #clock: MonotonicClock;
  readonly #startMs: number;
  readonly #flushIntervalMs: number;
  readonly #flushThresholdBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #recordInput: boolean;
  readonly #maxOutputBytes: number;
  readonly #onError: ((err: GatehouseError) => void) | undefined;
  readonly #onCommandLine: ((line: CommandLine) => void) | undefined;
  readonly #echo: EchoTracker | undefined;
  readonly #commands: CommandLineTracker | undefined;
  readonly #outputDecoder = new StringDecoder('utf8');
  readonly #inputDecoder = new StringDecoder('utf8');
  readonly #hash: Hash = createHash('sha256');
  #bytesWritten = 0;
  /** Output bytes seen (recorded or not). */
  #outputBytes = 0;
  /** Output bytes recorded before the limit stopped it. */
  #recordedOutputBytes = 0;
  #isOutputCapped = false;
  #lastAbsMs = 0;
  #lastSyncMs: number;
  /** Events not encoded yet: encoding waits for the flush, off the keystroke's path. */
  #pending: PendingEvent[] = [];
  /** Estimated bytes of `#pending` (characters plus line overhead). */
  #pendingBytes = 0;
  #inflightBytes = 0;
  #flushing: Promise<void> | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #echoTimer: NodeJS.Timeout | undefined;
  #drainWaiters: DrainWaiter[] = [];
  #failure: GatehouseError | undefined;
  #isClosed = false;
  #closing: Promise<RecordingResult> | undefined;

  private constructor(sink: RecordingSink, header: Buffer, options: AsciicastWriterOptions) {
    this.#sink = sink;
    this.#hash.update(header);
    this.#bytesWritten = header.length;
    this.#clock = options.clock ?? (() => performance.now());
    this.#startMs = this.#clock();
    this.#lastSyncMs = this.#startMs;
    this.#flushIntervalMs = positive(
      options.flushIntervalMs ?? FLUSH_INTERVAL_MS,
      'flushIntervalMs',
    );
    this.#flushThresholdBytes = positive(
      options.flushThresholdBytes ?? FLUSH_THRESHOLD_BYTES,
      'flushThresholdBytes',
    );
    this.#maxBufferedBytes = positive(
      options.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
      'maxBufferedBytes',
    );
    this.#recordInput = options.recordInput ?? true;
    this.#maxOutputBytes =
      options.maxOutputBytes === undefined
        ? Number.POSITIVE_INFINITY
        : positive(options.maxOutputBytes, 'maxOutputBytes');
    this.#onError = options.onError;
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
    const sink = await (options.openSink ?? openFileSink)(path);
    try {
      await sink.write(header); // the file plays (empty) from the start
    } catch (err) {
      await sink.close().catch(() => undefined);
      throw recordingWriteFailed(`${path}: writing the header: ${describeError(err)}`, err);
    }
    const writer = new AsciicastWriter(sink, header, options);
    return writer;
  }

  /** The file being written. */
  get path(): string {
    return this.#sink.path;
  }

  /** True while the relay should stop reading and await `drain()` (also once failed). */
  get needsDrain(): boolean {
    return this.#failure !== undefined || this.#bufferedBytes >= this.#maxBufferedBytes;
  }

  /** Why the recording failed, or undefined while it is healthy. */
  get failure(): GatehouseError | undefined {
    return this.#failure;
  }

  /** Records output from the target; multibyte characters may be split across chunks. */
  output(data: Uint8Array): boolean {
    if (!this.#isOpen) return false;
    this.#outputBytes += data.byteLength;
    if (this.#isOutputCapped) return !this.needsDrain;
    const text = this.#outputDecoder.write(asBuffer(data));
    if (text !== '') {
      const atMs = this.#now();
      if (this.#echo !== undefined) this.#settled(this.#echo.output(text));
      this.#event(atMs, EVENT_CODES.output, text);
    }
    if (this.#outputBytes >= this.#maxOutputBytes) this.#capOutput(this.#now());
    return !this.needsDrain;
  }

  /** Records keys typed by the user, masked while the terminal does not echo them. */
  input(data: Uint8Array): boolean {
    if (!this.#isOpen) return false;
    if (this.#echo === undefined) return !this.needsDrain; // recordInput: false, no tracking
    const text = this.#inputDecoder.write(asBuffer(data));
    if (text === '') return !this.needsDrain;
    this.#settled(this.#echo.input(text, this.#now()));
    this.#armEchoTimer();
    return !this.needsDrain;
  }

  /** Records a terminal resize (`r` event, `COLSxROWS`); ignores impossible sizes. */
  resize(cols: number, rows: number): boolean {
    if (!this.#isOpen) return false;
    if (!isTermSize(cols) || !isTermSize(rows)) return !this.needsDrain;
    return this.#event(this.#now(), EVENT_CODES.resize, formatResize(cols, rows));
  }

  /** Records a marker (`m` event), e.g. a command line. */
  marker(label: string): boolean {
    if (!this.#isOpen) return false;
    return this.#event(this.#now(), EVENT_CODES.marker, label);
  }

  /** Records the exit status of the session's program (`x` event); ignores a non-integer. */
  exit(status: number): boolean {
    if (!this.#isOpen) return false;
    if (!Number.isSafeInteger(status)) return !this.needsDrain;
    return this.#event(this.#now(), EVENT_CODES.exit, String(status));
  }

  /** Resolves once buffered bytes are below the limit; rejects with the failure if any. */
  drain(): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (!this.needsDrain) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#drainWaiters.push({ resolve, reject });
      void this.#startFlush();
    });
  }

  /** Writes out everything buffered; rejects with the failure if the recording failed. */
  async flush(): Promise<void> {
    while (
      this.#failure === undefined &&
      (this.#pending.length > 0 || this.#flushing !== undefined)
    ) {
      await this.#startFlush();
    }
    if (this.#failure !== undefined) throw this.#failure;
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
    let failure: unknown;
    try {
      await this.flush();
      await this.#sink.sync();
    } catch (err) {
      failure = err;
    }
    clearTimeout(this.#flushTimer);
    try {
      await this.#sink.close();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) {
      this.#fail(failure, 'closing the recording');
      throw (
        this.#failure ?? recordingWriteFailed(`${this.#sink.path}: closing the recording`, failure)
      );
    }
    return { path: this.#sink.path, sha256: this.#hash.digest('hex'), bytes: this.#bytesWritten };
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
    return !this.#isClosed && this.#failure === undefined;
  }

  get #bufferedBytes(): number {
    return this.#pendingBytes + this.#inflightBytes;
  }

  // Milliseconds since the start, whole, never before the last event written (a clock
  // that steps back must not produce a negative interval).
  #now(): number {
    return Math.max(this.#lastAbsMs, Math.round(this.#clock() - this.#startMs));
  }

  // Queues an event; its line is encoded when the batch is written (#runFlush).
  #event(atMs: number, code: string, data: string): boolean {
    if (this.#failure !== undefined) return false;
    const absMs = Math.max(atMs, this.#lastAbsMs);
    this.#pending.push({ intervalMs: absMs - this.#lastAbsMs, code, data });
    this.#lastAbsMs = absMs;
    this.#pendingBytes += data.length + EVENT_OVERHEAD_BYTES;
    if (this.#bufferedBytes > this.#maxBufferedBytes * HARD_LIMIT_FACTOR) {
      this.#fail(
        undefined,
        `more than ${this.#maxBufferedBytes * HARD_LIMIT_FACTOR} bytes buffered: backpressure ignored`,
      );
      return false;
    }
    if (this.#pendingBytes >= this.#flushThresholdBytes) void this.#startFlush();
    else
      this.#flushTimer ??= setTimeout(() => void this.#startFlush(), this.#flushIntervalMs).unref();
    return !this.needsDrain;
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
  // early settles nothing and arms it again for what is then the oldest.
  #armEchoTimer(): void {
    if (this.#echoTimer !== undefined) return;
    const deadline = this.#echo?.nextDeadlineMs;
    if (deadline === undefined) return;
    const delay = Math.max(0, deadline - (this.#clock() - this.#startMs));
    this.#echoTimer = setTimeout(() => {
      this.#echoTimer = undefined;
      if (this.#echo === undefined || !this.#isOpen) return;
      this.#settled(this.#echo.settleDue(this.#now()));
      this.#armEchoTimer();
    }, delay + 1).unref();
  }

  // Starts the flush loop unless one runs; the returned promise never rejects.
  #startFlush(): Promise<void> {
    this.#flushing ??= this.#runFlush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #runFlush(): Promise<void> {
    while (this.#pending.length > 0 && this.#failure === undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      const chunk = encodeEvents(this.#pending);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#inflightBytes = chunk.length;
      try {
        await this.#sink.write(chunk);
        this.#hash.update(chunk);
        this.#bytesWritten += chunk.length;
        this.#inflightBytes = 0;
        // Ask for an fsync at most once per interval: "a crash loses about a second" without
        // an fsync per 64 KiB under heavy output. The process-wide pacer runs it without
        // holding up the next write (src/recording/sync-pacer.ts).
        if (this.#clock() - this.#lastSyncMs >= this.#flushIntervalMs) {
          this.#lastSyncMs = this.#clock();
          this.#sink.requestSync();
        }
      } catch (err) {
        this.#inflightBytes = 0;
        this.#fail(err, 'writing the recording');
        return;
      }
      this.#wakeDrainWaiters();
    }
  }

  #wakeDrainWaiters(): void {
    if (this.needsDrain || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #fail(cause: unknown, doing: string): void {
    if (this.#failure !== undefined) return;
    const failure = isGatehouseError(cause)
      ? cause
      : recordingWriteFailed(
          `${this.#sink.path}: ${doing}${cause === undefined ? '' : `: ${describeError(cause)}`}`,
          cause,
        );
    this.#failure = failure;
    this.#pending = []; // nothing more can be written: free the memory
    this.#pendingBytes = 0;
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#echoTimer);
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(failure);
    try {
      this.#onError?.(failure);
    } catch {
      // onError must not throw; the failure stays visible through `failure` and `close()`.
    }
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
    echoWindowMs,
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
