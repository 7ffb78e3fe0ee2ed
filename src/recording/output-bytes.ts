import { isUtf8 } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { incompleteUtf8Tail } from './json-string-bytes.js';

/**
 * Terminal output, chunk by chunk, as the recording keeps it: bytes that are valid UTF-8 stay
 * bytes (escaped straight into their asciicast line, `json-string-bytes.ts`); anything else
 * goes through a UTF-8 decoder (U+FFFD for bad bytes). The decoder runs only while it holds
 * nothing and is first given what was held back, so either way the recorded text is what the
 * decoder alone would have made of the stream.
 */
export class OutputDecoder {
  readonly #decoder = new StringDecoder('utf8');
  /** The decoder holds no bytes of a cut character (its last input ended on ASCII). */
  #isDecoderEmpty = true;
  /** A character cut at the end of the last chunk, valid so far, held for the next (a copy). */
  #carry: Buffer | undefined;

  /**
   * The text of `chunk`: its own bytes (with the character held from the last chunk) when they
   * are valid UTF-8 up to a character cut at the end, which is held for the next; else the
   * decoder's text. Empty when the chunk only adds to a cut character.
   */
  write(chunk: Buffer): string | Buffer {
    if (this.#isDecoderEmpty) {
      const carry = this.#carry;
      const bytes = carry === undefined ? chunk : Buffer.concat([carry, chunk]);
      const cut = incompleteUtf8Tail(bytes);
      const whole = cut > 0 ? bytes.subarray(0, bytes.length - cut) : bytes;
      if (cut >= 0 && isUtf8(whole)) {
        this.#carry = cut > 0 ? Buffer.from(bytes.subarray(bytes.length - cut)) : undefined;
        return whole;
      }
      this.#releaseCarry();
    }
    // A chunk ending on ASCII leaves nothing in the decoder (an empty one leaves it as it was).
    if (chunk.length > 0) this.#isDecoderEmpty = (chunk[chunk.length - 1] ?? 0) < 0x80;
    return this.#decoder.write(chunk);
  }

  /** Ends the stream: what a character cut at its end decodes to (U+FFFD), or ''. */
  end(): string {
    this.#releaseCarry();
    return this.#decoder.end();
  }

  // Hands a held cut character to the decoder (which outputs nothing for it yet).
  #releaseCarry(): void {
    if (this.#carry === undefined) return;
    this.#decoder.write(this.#carry);
    this.#carry = undefined;
    this.#isDecoderEmpty = false;
  }
}

/** First size of an output arena in a batch; the next ones double up to the flush threshold. */
const ARENA_MIN_BYTES = 8 * 1024;

/**
 * Output bytes of events waiting for their batch, back to back: one buffer per batch or so,
 * not the relay's buffers, which would each live (and cost the GC) until their batch is
 * written.
 */
export class OutputArena {
  readonly #flushThresholdBytes: number;
  #arena: Buffer | undefined;
  #used = 0;
  #nextBytes = ARENA_MIN_BYTES;
  /** Bytes copied in since the last batch was encoded. */
  #batchBytes = 0;

  constructor(flushThresholdBytes: number) {
    this.#flushThresholdBytes = flushThresholdBytes;
  }

  /** A copy of `bytes` in the arena (a view of it, valid until {@link release}). */
  copy(bytes: Buffer): Buffer {
    let arena = this.#arena;
    if (arena === undefined || arena.length - this.#used < bytes.length) {
      arena = this.#arena = Buffer.allocUnsafeSlow(Math.max(this.#nextBytes, bytes.length));
      this.#used = 0;
      this.#nextBytes = Math.min(2 * this.#nextBytes, this.#flushThresholdBytes);
    }
    const start = this.#used;
    this.#used += bytes.copy(arena, start);
    this.#batchBytes += bytes.length;
    return arena.subarray(start, this.#used);
  }

  /**
   * The batch's events are encoded: the arena is free again. A writer whose output streams
   * keeps it for the next batch: its batch was written for the threshold (of output plus each
   * line's overhead, so half of it in output bytes is the test); one whose batch was written
   * by the timer after little output lets it go, so a writer gone quiet keeps none.
   */
  release(): void {
    if (this.#batchBytes < this.#flushThresholdBytes / 2) {
      this.#arena = undefined;
      this.#nextBytes = ARENA_MIN_BYTES;
    }
    this.#used = 0;
    this.#batchBytes = 0;
  }
}
