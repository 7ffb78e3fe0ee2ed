/** The smallest buffer the log copies chunks into. */
const LOG_MIN_BYTES = 4 * 1024;

/**
 * The chunks of a channel that the recorder has not read yet, in the order they passed, each
 * copied (the relay's buffers are not kept). Logging a chunk is all a recorder does on a
 * keystroke's way: decoding, the echo decision and queuing its events run later over many
 * chunks at once ({@link ChunkLog.read}). Done one key at a time, with the caches cold after
 * the milliseconds between keys, that work cost more than the relay's own per key
 * (docs/performance.md, "Recording: keystrokes read in batches"), so a chunk is logged as
 * three numbers and a copy into one buffer: no object, no call into JavaScript beyond this.
 */
export class ChunkLog {
  /** Bytes at which the owner reads the log: the buffer grows to hold them and one chunk more. */
  readonly #readAtBytes: number;
  #buffer: Buffer | undefined;
  #used = 0;
  /** Per chunk: its time, 1 for input or 0 for output, and where its bytes end. */
  #entries: number[] = [];

  /** `readAtBytes`: the log's size at which its owner reads it (a buffer up to twice that is kept). */
  constructor(readAtBytes: number) {
    this.#readAtBytes = readAtBytes;
  }

  /** Bytes logged and not read yet. */
  get bytes(): number {
    return this.#used;
  }

  get isEmpty(): boolean {
    return this.#entries.length === 0;
  }

  /** Logs a copy of `bytes`, passed at `atMs` (input: typed by the user; else output). */
  add(atMs: number, isInput: boolean, bytes: Uint8Array): void {
    let buffer = this.#buffer;
    if (buffer === undefined || buffer.length - this.#used < bytes.length)
      buffer = this.#grow(bytes.length);
    buffer.set(bytes, this.#used);
    this.#used += bytes.length;
    this.#entries.push(atMs, isInput ? 1 : 0, this.#used);
  }

  /**
   * Hands every chunk logged to `visit`, oldest first, and forgets them. A chunk's bytes are
   * valid only during its visit; `visit` must not log more chunks.
   */
  read(visit: (atMs: number, isInput: boolean, bytes: Buffer) => void): void {
    const buffer = this.#buffer;
    const entries = this.#entries;
    const used = this.#used;
    this.#entries = [];
    this.#used = 0;
    // A buffer that holds little is let go: a channel gone quiet keeps none. One that was
    // filled (output streaming) is kept for the next batch, unless a chunk far larger than
    // the read size made it grow.
    if (buffer !== undefined && (used < buffer.length / 2 || buffer.length > 2 * this.#readAtBytes))
      this.#buffer = undefined;
    if (buffer === undefined) return;
    let start = 0;
    for (let i = 0; i + 2 < entries.length; i += 3) {
      const end = entries[i + 2] ?? start;
      visit(entries[i] ?? 0, entries[i + 1] === 1, buffer.subarray(start, end));
      start = end;
    }
  }

  // A buffer with room for `more` bytes after those logged (which are copied over).
  #grow(more: number): Buffer {
    const old = this.#buffer;
    let size = Math.max(LOG_MIN_BYTES, 2 * (old?.length ?? 0));
    while (size < this.#used + more) size *= 2;
    const buffer = Buffer.allocUnsafeSlow(size);
    if (old !== undefined) old.copy(buffer, 0, 0, this.#used);
    this.#buffer = buffer;
    return buffer;
  }
}
