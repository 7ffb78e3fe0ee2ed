import { OutputArena } from './output-bytes.js';

/** A chunk of a terminal channel as it passed the relay: when, which way, its bytes (a copy). */
export interface LoggedChunk {
  /** Milliseconds since the recording started (whole). */
  readonly atMs: number;
  /** Typed by the user (else output of the target). */
  readonly isInput: boolean;
  readonly bytes: Buffer;
}

/**
 * The chunks of a channel that the recorder has not read yet, in the order they passed, each
 * copied (the relay's buffers are not kept). Logging a chunk is all a recorder does on a
 * keystroke's way: decoding, the echo decision and queuing its events run later over many
 * chunks at once ({@link ChunkLog.read}). Done one key at a time, with the caches cold after
 * the milliseconds between keys, that work cost more than the relay's own per key
 * (docs/performance.md, "Recording: keystrokes read in batches").
 */
export class ChunkLog {
  readonly #arena: OutputArena;
  #chunks: LoggedChunk[] = [];
  #bytes = 0;

  /** `maxArenaBytes`: the largest buffer the copies are kept in (larger chunks get their own). */
  constructor(maxArenaBytes: number) {
    this.#arena = new OutputArena(maxArenaBytes);
  }

  /** Bytes logged and not read yet. */
  get bytes(): number {
    return this.#bytes;
  }

  get isEmpty(): boolean {
    return this.#chunks.length === 0;
  }

  /** Logs a copy of `bytes`. */
  add(atMs: number, isInput: boolean, bytes: Buffer): void {
    this.#chunks.push({ atMs, isInput, bytes: this.#arena.copy(bytes) });
    this.#bytes += bytes.length;
  }

  /**
   * Hands every chunk logged to `visit`, oldest first, and forgets them. A chunk's bytes are
   * valid only during its visit; `visit` must not log more chunks.
   */
  read(visit: (chunk: LoggedChunk) => void): void {
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#bytes = 0;
    try {
      for (const chunk of chunks) visit(chunk);
    } finally {
      this.#arena.release();
    }
  }
}
