import { open, type FileHandle } from 'node:fs/promises';

/** How often the growing file is read (the writer flushes at least every second). */
export const LIVE_POLL_MS = 200;
/** How often the session's status is checked while nothing new arrives. */
const STATUS_CHECK_MS = 1_000;
const READ_CHUNK_BYTES = 256 * 1024;
const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** Where a tail sends what it reads. */
export interface TailSink {
  /** One asciicast v3 line (header or event), without newline. */
  send(line: string): void;
  /** The stream is over: 1000 when the session ended, 1011 on a damaged file. */
  close(code: number, reason: string): void;
}

/**
 * Follows the asciicast v3 recording of a live session for a viewer (the asciinema-player
 * `v3.asciicast` WebSocket protocol: one JSON line per message, header first). What the file
 * already holds is sent with zero intervals so the viewer's terminal catches up at once; new
 * events keep their real pacing (the interval since the previous message was sent). Stops
 * when the session is no longer live and the file has been read to its end.
 */
export class CastTail {
  readonly #path: string;
  readonly #sink: TailSink;
  readonly #isLive: () => Promise<boolean>;
  readonly #clock: () => number;
  #file: FileHandle | undefined;
  #offset = 0;
  #partial: Buffer = Buffer.alloc(0);
  #isHeaderSent = false;
  #isCaughtUp = false;
  #lastSentAt = 0;
  #lastStatusCheck = 0;
  #timer: NodeJS.Timeout | undefined;
  #isBusy = false;
  #isStopped = false;

  constructor(
    path: string,
    sink: TailSink,
    options: { readonly isLive: () => Promise<boolean>; readonly clock?: () => number },
  ) {
    this.#path = path;
    this.#sink = sink;
    this.#isLive = options.isLive;
    this.#clock = options.clock ?? Date.now;
  }

  /** Opens the file, sends what is there, and keeps following it. */
  async start(): Promise<void> {
    this.#file = await open(this.#path, 'r');
    await this.#tick();
    this.#isCaughtUp = true;
    this.#lastSentAt = this.#clock();
    if (!this.#isStopped) this.#timer = setInterval(() => void this.#tick(), LIVE_POLL_MS);
  }

  /** Stops following (the viewer left); idempotent. */
  async stop(): Promise<void> {
    this.#isStopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
  }

  async #tick(): Promise<void> {
    if (this.#isBusy || this.#isStopped || this.#file === undefined) return;
    this.#isBusy = true;
    try {
      const grew = await this.#readNew(this.#file);
      const now = this.#clock();
      if (!grew && this.#isCaughtUp && now - this.#lastStatusCheck >= STATUS_CHECK_MS) {
        this.#lastStatusCheck = now;
        if (!(await this.#isLive())) {
          // One last read: the writer finishes the file before the session row ends.
          await this.#readNew(this.#file);
          this.#finish(1000, 'session ended');
        }
      }
    } catch (err) {
      this.#finish(1011, err instanceof Error ? err.message.slice(0, 100) : 'recording unreadable');
    } finally {
      this.#isBusy = false;
    }
  }

  async #readNew(file: FileHandle): Promise<boolean> {
    let grew = false;
    for (;;) {
      const chunk = Buffer.alloc(READ_CHUNK_BYTES);
      const { bytesRead } = await file.read(chunk, 0, chunk.length, this.#offset);
      if (bytesRead === 0) return grew;
      grew = true;
      this.#offset += bytesRead;
      this.#consume(chunk.subarray(0, bytesRead));
      if (this.#isStopped) return grew;
    }
  }

  #consume(bytes: Buffer): void {
    let data = this.#partial.length === 0 ? bytes : Buffer.concat([this.#partial, bytes]);
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      this.#line(data.subarray(0, nl).toString('utf8'));
      data = data.subarray(nl + 1);
      if (this.#isStopped) return;
    }
    if (data.length > MAX_LINE_BYTES) throw new Error('recording line too long');
    this.#partial = Buffer.from(data);
  }

  #line(text: string): void {
    const line = text.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!this.#isHeaderSent) {
      const header = JSON.parse(line) as { version?: unknown };
      if (header.version !== 3) throw new Error('not an asciicast v3 recording');
      this.#isHeaderSent = true;
      this.#sink.send(line);
      return;
    }
    const event: unknown = JSON.parse(line);
    if (!Array.isArray(event) || event.length < 3 || typeof event[1] !== 'string')
      throw new Error('malformed recording event');
    const now = this.#clock();
    const interval = this.#isCaughtUp ? Math.max(0, now - this.#lastSentAt) / 1000 : 0;
    this.#lastSentAt = now;
    this.#sink.send(JSON.stringify([Number(interval.toFixed(3)), event[1], event[2]]));
  }

  #finish(code: number, reason: string): void {
    if (this.#isStopped) return;
    void this.stop();
    this.#sink.close(code, reason);
  }
}
