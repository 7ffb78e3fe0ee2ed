import { SFTP_MAX_HANDLE_BYTES } from './constants.js';

// `ignoreBOM` keeps a leading U+FEFF: a path that starts with one is another path.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Reads SSH wire types (RFC 4251 §5) from a byte range, bounds-checking every read. The first
 * failed read is remembered and every later read returns an empty value, so a decoder reads a
 * whole message and checks {@link WireCursor.failure} once instead of throwing.
 */
export class WireCursor {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;
  #failure: string | undefined;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Why a read failed, or `undefined` while every read fit. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes not yet consumed. */
  get remaining(): number {
    return this.#bytes.byteLength - this.#offset;
  }

  /** Marks the input malformed (keeps the first reason). */
  fail(reason: string): void {
    this.#failure ??= reason;
  }

  /** `byte`. */
  uint8(): number {
    if (!this.#take(1, 'byte')) return 0;
    return this.#view.getUint8(this.#offset - 1);
  }

  /** `uint32`, big-endian. */
  uint32(): number {
    if (!this.#take(4, 'uint32')) return 0;
    return this.#view.getUint32(this.#offset - 4);
  }

  /** `uint64`, big-endian, as a number (exact up to 2^53, which any real size or offset is). */
  uint64(): number {
    if (!this.#take(8, 'uint64')) return 0;
    const high = this.#view.getUint32(this.#offset - 8);
    const low = this.#view.getUint32(this.#offset - 4);
    return high * 2 ** 32 + low;
  }

  /** `string`: the raw bytes, a view into the input (not a copy). */
  bytes(): Uint8Array {
    const length = this.uint32();
    if (this.#failure !== undefined) return new Uint8Array(0);
    if (!this.#take(length, `string of ${length} bytes`)) return new Uint8Array(0);
    return this.#bytes.subarray(this.#offset - length, this.#offset);
  }

  /** `string` decoded as UTF-8; invalid sequences become U+FFFD. */
  text(): string {
    const raw = this.bytes();
    return raw.byteLength === 0 ? '' : utf8.decode(raw);
  }

  /** A handle `string` as lower-case hex; longer than 256 bytes is malformed (filexfer-02 §6.2). */
  handle(): string {
    const raw = this.bytes();
    if (raw.byteLength > SFTP_MAX_HANDLE_BYTES) {
      this.fail(`handle of ${raw.byteLength} bytes (max ${SFTP_MAX_HANDLE_BYTES})`);
      return '';
    }
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
  }

  /**
   * Length of a `string` whose bytes are not read (file data). `wireLength` is the length of
   * the whole input on the wire, of which this cursor may hold only the first bytes.
   */
  skippedStringLength(wireLength: number): number {
    const length = this.uint32();
    const available = wireLength - this.#offset;
    if (this.#failure === undefined && length > available) {
      this.fail(`data of ${length} bytes with ${available} left`);
      return 0;
    }
    return length;
  }

  /** The bytes not yet consumed, as a view; the cursor moves to the end. */
  rest(): Uint8Array {
    const rest = this.#bytes.subarray(this.#offset);
    this.#offset = this.#bytes.byteLength;
    return rest;
  }

  #take(count: number, what: string): boolean {
    if (this.#failure !== undefined) return false;
    if (count > this.remaining) {
      this.fail(`${what} at offset ${this.#offset} runs past the end (${this.remaining} left)`);
      return false;
    }
    this.#offset += count;
    return true;
  }
}
