import { createHash, type Hash } from 'node:crypto';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import { describeError, recordingWriteFailed } from './recording-errors.js';
import { openFileSink, type RecordingSink } from './recording-sink.js';

/** How far past `maxBufferedBytes` a caller may ignore backpressure before the sink fails. */
const HARD_LIMIT_FACTOR = 4;

/** Options of {@link BoundedLineSink}. */
export interface BoundedLineSinkOptions<T> {
  /** Encodes queued items as whole lines, in one buffer (called once per write). */
  readonly encode: (items: readonly T[]) => Buffer;
  /** Milliseconds that never go backwards; paces the periodic syncs. */
  readonly clock: () => number;
  /** Longest time an item stays in memory; also the least time between two paced syncs. */
  readonly flushIntervalMs: number;
  /** Buffered bytes that trigger a write before the timer. */
  readonly flushThresholdBytes: number;
  /** Buffered bytes beyond which `needsDrain` asks the producer to wait. */
  readonly maxBufferedBytes: number;
  /** What the file is, for error details (`recording`, `transcript`). */
  readonly noun: string;
  /** Told once when the sink fails. Must not throw. */
  readonly onError?: ((err: GatehouseError) => void) | undefined;
}

/** A finished file: where it is, its SHA-256 (hex) and size, for `session.end`. */
export interface LineSinkResult {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

interface DrainWaiter {
  resolve(): void;
  reject(err: GatehouseError): void;
}

/**
 * Creates the file with `openSink` (default {@link openFileSink}) and writes its header line,
 * so that the file reads (empty) from the start. Throws the open's error, or
 * GH_RECORDING_FAILED when the header cannot be written (the file is closed then).
 */
export async function openWithHeader(
  path: string,
  header: Buffer,
  openSink: (path: string) => Promise<RecordingSink> = openFileSink,
): Promise<RecordingSink> {
  const sink = await openSink(path);
  try {
    await sink.write(header);
  } catch (err) {
    await sink.close().catch(() => undefined);
    throw recordingWriteFailed(`${path}: writing the header: ${describeError(err)}`, err);
  }
  return sink;
}

/**
 * The bounded, fail-closed write path of recordings and transcripts. `push` is synchronous
 * and queues an item; a timer writes the queue out at least every `flushIntervalMs`, sooner
 * past `flushThresholdBytes`, one write at a time, so the file always ends on a whole line.
 * After a write, a sync is asked of the process-wide pacer at most once per interval
 * (src/recording/sync-pacer.ts): "a crash loses about a second" without holding up the next
 * write.
 *
 * Backpressure: past `maxBufferedBytes` `needsDrain` is true and `drain()` waits. Nothing is
 * dropped; a producer ignoring it far past the limit fails the sink.
 *
 * Failure (ENOSPC, EIO, ...): reported once to `onError`, `failure` is set, the queue is
 * freed, `drain()`, `flush()` and `close()` reject with it, `push` returns false. Nothing is
 * thrown from `push` and no promise is left rejected unobserved.
 */
export class BoundedLineSink<T> {
  readonly #sink: RecordingSink;
  readonly #options: BoundedLineSinkOptions<T>;
  readonly #hash: Hash = createHash('sha256');
  #bytesWritten: number;
  #lastSyncMs: number;
  /** Items not encoded yet: encoding waits for the write, off the producer's path. */
  #pending: T[] = [];
  /** Bytes of `#pending` as the producer counted them. */
  #pendingBytes = 0;
  #inflightBytes = 0;
  #flushing: Promise<void> | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #drainWaiters: DrainWaiter[] = [];
  #failure: GatehouseError | undefined;

  /** Takes over `sink`, whose file holds `header` already (see {@link openWithHeader}). */
  constructor(sink: RecordingSink, header: Buffer, options: BoundedLineSinkOptions<T>) {
    this.#sink = sink;
    this.#options = options;
    this.#hash.update(header);
    this.#bytesWritten = header.length;
    this.#lastSyncMs = options.clock();
  }

  /** The file being written. */
  get path(): string {
    return this.#sink.path;
  }

  /** True while the producer should stop and await `drain()` (also once failed). */
  get needsDrain(): boolean {
    return this.#failure !== undefined || this.#bufferedBytes >= this.#options.maxBufferedBytes;
  }

  /** Why writing failed, or undefined while healthy. */
  get failure(): GatehouseError | undefined {
    return this.#failure;
  }

  /** Queues `item` (about `bytes` once encoded); false when the producer should wait for `drain()`. */
  push(item: T, bytes: number): boolean {
    if (this.#failure !== undefined) return false;
    this.#pending.push(item);
    this.#pendingBytes += bytes;
    const hardLimit = this.#options.maxBufferedBytes * HARD_LIMIT_FACTOR;
    if (this.#bufferedBytes > hardLimit) {
      this.#fail(undefined, `more than ${hardLimit} bytes buffered: backpressure ignored`);
      return false;
    }
    if (this.#pendingBytes >= this.#options.flushThresholdBytes) void this.#startFlush();
    else
      this.#flushTimer ??= setTimeout(
        () => void this.#startFlush(),
        this.#options.flushIntervalMs,
      ).unref();
    return !this.needsDrain;
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

  /** Writes out everything queued; rejects with the failure if writing failed. */
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
   * Writes out, fsyncs (through the pacer) and closes the file, which waits for the syncs
   * running. Resolves with path, SHA-256 and size; rejects with the failure if any write, the
   * sync or the close failed. Call it once, after the last `push`.
   */
  async close(): Promise<LineSinkResult> {
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
      this.#fail(failure, `closing the ${this.#options.noun}`);
      throw (
        this.#failure ??
        recordingWriteFailed(`${this.#sink.path}: closing the ${this.#options.noun}`, failure)
      );
    }
    return { path: this.#sink.path, sha256: this.#hash.digest('hex'), bytes: this.#bytesWritten };
  }

  get #bufferedBytes(): number {
    return this.#pendingBytes + this.#inflightBytes;
  }

  // Starts the flush loop unless one runs; the returned promise never rejects.
  #startFlush(): Promise<void> {
    this.#flushing ??= this.#runFlush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #runFlush(): Promise<void> {
    const { clock, encode, flushIntervalMs } = this.#options;
    while (this.#pending.length > 0 && this.#failure === undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      const chunk = encode(this.#pending);
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
        if (clock() - this.#lastSyncMs >= flushIntervalMs) {
          this.#lastSyncMs = clock();
          this.#sink.requestSync();
        }
      } catch (err) {
        this.#inflightBytes = 0;
        this.#fail(err, `writing the ${this.#options.noun}`);
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
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(failure);
    try {
      this.#options.onError?.(failure);
    } catch {
      // onError must not throw; the failure stays visible through `failure` and `close()`.
    }
  }
}
