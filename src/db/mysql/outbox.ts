import type { Duplex } from 'node:stream';

/**
 * Bytes to write to one socket, gathered while scanning a chunk: ranges of the chunk (adjacent
 * ones merged, so a chunk forwarded whole is written as it came, without a slice), slices of
 * earlier chunks (held bytes) and packets the gateway made, in order. Reused chunk after chunk.
 */
export class Outbox {
  #chunk: Buffer | undefined;
  readonly #parts: Buffer[] = [];
  // The open range of the chunk, not yet among the parts (rangeEnd 0: none).
  #rangeStart = 0;
  #rangeEnd = 0;

  /** Starts gathering for `chunk` (undefined: only packets the gateway makes). */
  begin(chunk: Buffer | undefined): void {
    this.#chunk = chunk;
    this.#parts.length = 0;
    this.#rangeStart = 0;
    this.#rangeEnd = 0;
  }

  /** Drops what is left (the chunk is not kept past its scan). */
  end(): void {
    this.begin(undefined);
  }

  /** True when nothing was gathered. */
  get isEmpty(): boolean {
    return this.#parts.length === 0 && this.#rangeEnd === 0;
  }

  /** Bytes `start`–`end` of the chunk. */
  pushRange(start: number, end: number): void {
    if (end <= start) return;
    if (this.#rangeEnd !== 0 && this.#rangeEnd === start) {
      this.#rangeEnd = end;
      return;
    }
    this.#closeRange();
    this.#rangeStart = start;
    this.#rangeEnd = end;
  }

  /** A copy-free slice of the chunk, to keep (held bytes). */
  slice(start: number, end: number): Buffer {
    return (this.#chunk ?? EMPTY).subarray(start, end);
  }

  /** A slice kept from an earlier chunk (held bytes), or of this one. */
  pushSlice(slice: Buffer): void {
    this.#closeRange();
    this.#parts.push(slice);
  }

  /** A buffer the gateway made (a packet), or framed parts of one. */
  own(bytes: Buffer): void {
    this.#closeRange();
    this.#parts.push(bytes);
  }

  /** Writes everything; false when the socket asks to wait for `drain`. */
  writeTo(socket: Duplex): boolean {
    this.#closeRange();
    const first = this.#parts[0];
    if (this.#parts.length === 1 && first !== undefined) return socket.write(first);
    socket.cork();
    let isOk = true;
    for (const part of this.#parts) isOk = socket.write(part) && isOk;
    socket.uncork();
    return isOk;
  }

  #closeRange(): void {
    if (this.#rangeEnd === 0) return;
    const chunk = this.#chunk ?? EMPTY;
    this.#parts.push(
      this.#rangeStart === 0 && this.#rangeEnd === chunk.length
        ? chunk
        : chunk.subarray(this.#rangeStart, this.#rangeEnd),
    );
    this.#rangeStart = 0;
    this.#rangeEnd = 0;
  }
}

const EMPTY = Buffer.alloc(0);
