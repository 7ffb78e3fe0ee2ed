import { MAX_MESSAGE_BYTES } from './constants.js';
import { PgProtocolError } from './wire.js';

/** One message found in a byte stream: `Byte1(type) Int32(length) body`. */
export interface FramedMessage {
  readonly type: number;
  /** Body length in bytes (the Int32 length, which counts itself, minus 4). */
  readonly length: number;
  /** The body, or its first bytes, when the caller asked to keep this type; else undefined. */
  readonly body: Buffer | undefined;
  /** True when `body` holds only the first bytes of a longer body. */
  readonly isTruncated: boolean;
  /** Offset just past the message's last byte in the chunk where it ended. */
  readonly end: number;
  /** Offset of its type byte in that chunk; -1 when the message began in an earlier chunk. */
  readonly start: number;
}

/** Options of {@link MessageFramer}. */
export interface MessageFramerOptions {
  /** Body bytes to keep for a message type; 0 keeps none (the body is only skipped). */
  readonly keep: (type: number) => number;
  /** Longest body accepted (default PostgreSQL's 1 GiB limit). */
  readonly maxLength?: number;
}

interface Partial {
  readonly type: number;
  readonly length: number;
  readonly start: number;
  readonly cap: number;
  readonly parts: Buffer[];
  kept: number;
  remaining: number;
}

/**
 * Splits a stream of typed messages at their boundaries without copying it: `push` visits
 * each message that ends in the chunk, with its offsets there, so a relay can forward the
 * chunk unchanged or cut it at a boundary. Only the bodies the caller asks for are kept (and
 * only up to the asked size), so memory stays bounded whatever the message sizes.
 */
export class MessageFramer {
  readonly #keep: (type: number) => number;
  readonly #maxLength: number;
  readonly #header = Buffer.alloc(5);
  #headerFill = 0;
  #current: Partial | undefined;

  constructor(options: MessageFramerOptions) {
    this.#keep = options.keep;
    this.#maxLength = options.maxLength ?? MAX_MESSAGE_BYTES;
  }

  /** True when the stream is between two messages. */
  get isAtBoundary(): boolean {
    return this.#current === undefined && this.#headerFill === 0;
  }

  /** Feeds the next chunk; `visit` sees each message completed in it. Throws PgProtocolError. */
  push(chunk: Buffer, visit: (message: FramedMessage) => void): void {
    let pos = 0;
    const size = chunk.length;
    while (pos < size) {
      let current = this.#current;
      if (current === undefined) {
        let type: number;
        let length: number;
        let start: number;
        if (this.#headerFill === 0 && size - pos >= 5) {
          type = chunk[pos] ?? 0;
          length = chunk.readInt32BE(pos + 1);
          start = pos;
          pos += 5;
        } else {
          const take = Math.min(5 - this.#headerFill, size - pos);
          chunk.copy(this.#header, this.#headerFill, pos, pos + take);
          this.#headerFill += take;
          pos += take;
          if (this.#headerFill < 5) break;
          type = this.#header[0] ?? 0;
          length = this.#header.readInt32BE(1);
          // A header completed here from saved bytes began in an earlier chunk.
          start = -1;
          this.#headerFill = 0;
        }
        if (length < 4 || length - 4 > this.#maxLength)
          throw new PgProtocolError(
            `invalid length ${length} for message type ${describeType(type)}`,
          );
        const bodyLength = length - 4;
        if (size - pos >= bodyLength) {
          // The whole message is in this chunk (the usual case): no partial state to build.
          const cap = this.#keep(type);
          const kept = Math.min(cap, bodyLength);
          pos += bodyLength;
          visit({
            type,
            length: bodyLength,
            body: cap === 0 ? undefined : chunk.subarray(pos - bodyLength, pos - bodyLength + kept),
            isTruncated: kept < bodyLength && cap > 0,
            end: pos,
            start,
          });
          continue;
        }
        current = {
          type,
          length: length - 4,
          start,
          cap: this.#keep(type),
          parts: [],
          kept: 0,
          remaining: length - 4,
        };
        this.#current = current;
      }
      const take = Math.min(current.remaining, size - pos);
      if (current.kept < current.cap && take > 0) {
        const n = Math.min(take, current.cap - current.kept);
        current.parts.push(chunk.subarray(pos, pos + n));
        current.kept += n;
      }
      pos += take;
      current.remaining -= take;
      if (current.remaining > 0) break;
      this.#current = undefined;
      const body =
        current.cap === 0
          ? undefined
          : current.parts.length === 1
            ? current.parts[0]
            : Buffer.concat(current.parts, current.kept);
      visit({
        type: current.type,
        length: current.length,
        body,
        isTruncated: current.kept < current.length && current.cap > 0,
        end: pos,
        start: current.start,
      });
    }
  }
}

/**
 * Splits a stream into whole messages (type, length and body), holding an incomplete one
 * until it is complete; for a relay that must see a message before any of it goes on.
 */
export class WholeMessageSplitter {
  readonly #maxLength: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(options: { readonly maxLength: number }) {
    this.#maxLength = options.maxLength;
  }

  /** Bytes held for an incomplete message. */
  get heldBytes(): number {
    return this.#pendingBytes;
  }

  /** Feeds a chunk; returns the messages it completed, each as its full bytes. Throws PgProtocolError. */
  push(chunk: Buffer): Buffer[] {
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      buf = Buffer.concat(this.#pending, this.#pendingBytes + chunk.length);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const out: Buffer[] = [];
    let pos = 0;
    while (buf.length - pos >= 5) {
      const length = buf.readInt32BE(pos + 1);
      if (length < 4 || length - 4 > this.#maxLength)
        throw new PgProtocolError(
          `invalid length ${length} for message type ${describeType(buf[pos] ?? 0)}`,
        );
      if (buf.length - pos < length + 1) break;
      out.push(buf.subarray(pos, pos + length + 1));
      pos += length + 1;
    }
    if (pos < buf.length) {
      const rest = buf.subarray(pos);
      this.#pending = [rest];
      this.#pendingBytes = rest.length;
    }
    return out;
  }
}

/** `'Q'` for printable type bytes, else the number: for error messages. */
export function describeType(type: number): string {
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : String(type);
}
