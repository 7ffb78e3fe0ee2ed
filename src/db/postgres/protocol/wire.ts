/** Reading and writing the PostgreSQL wire types: Int16, Int32 (big-endian), String (NUL-terminated), Byte_n. */

/** Bytes that do not form the message they claim to be. */
export class PgProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgProtocolError';
  }
}

/** Reads wire types from one message body, front to back; throws PgProtocolError past the end. */
export class WireReader {
  readonly #buf: Buffer;
  #pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  /** Reads one byte. */
  byte(): number {
    this.#need(1);
    const value = this.#buf[this.#pos] ?? 0;
    this.#pos += 1;
    return value;
  }

  /** Reads a signed big-endian Int16. */
  int16(): number {
    this.#need(2);
    const value = this.#buf.readInt16BE(this.#pos);
    this.#pos += 2;
    return value;
  }

  /** Reads a signed big-endian Int32. */
  int32(): number {
    this.#need(4);
    const value = this.#buf.readInt32BE(this.#pos);
    this.#pos += 4;
    return value;
  }

  /** Reads a NUL-terminated string (UTF-8). */
  cstring(): string {
    const end = this.#buf.indexOf(0, this.#pos);
    if (end < 0) throw new PgProtocolError('unterminated string');
    const value = this.#buf.toString('utf8', this.#pos, end);
    this.#pos = end + 1;
    return value;
  }

  /** Reads `n` bytes (a view, not a copy). */
  bytes(n: number): Buffer {
    if (n < 0) throw new PgProtocolError(`negative length ${n}`);
    this.#need(n);
    const value = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return value;
  }

  /** The rest of the body (a view). */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** Throws unless every byte was read: trailing garbage is a protocol violation too. */
  end(what: string): void {
    if (this.remaining !== 0)
      throw new PgProtocolError(`${what}: ${this.remaining} unexpected trailing bytes`);
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) throw new PgProtocolError('message ends early');
  }
}

/** Builds one message: `Byte1(type)` (omitted for startup packets), `Int32(length)`, fields. */
export class MessageWriter {
  readonly #parts: Buffer[] = [];
  #length = 0;
  readonly #type: number | undefined;

  /** `type` is the message type byte; undefined for the untyped startup-phase packets. */
  constructor(type: number | undefined) {
    this.#type = type;
  }

  /** Appends one byte. */
  byte(value: number): this {
    return this.#push(Buffer.of(value & 0xff));
  }

  /** Appends a big-endian Int16. */
  int16(value: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(value);
    return this.#push(b);
  }

  /** Appends a big-endian Int32. */
  int32(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(value | 0);
    return this.#push(b);
  }

  /** Appends a NUL-terminated UTF-8 string; a NUL inside would cut it, so it is refused. */
  cstring(value: string): this {
    const b = Buffer.from(value, 'utf8');
    if (b.includes(0)) throw new PgProtocolError('string contains a NUL byte');
    this.#push(b);
    return this.#push(Buffer.of(0));
  }

  /** Appends raw bytes. */
  bytes(value: Uint8Array): this {
    return this.#push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }

  /** The finished message. */
  build(): Buffer {
    const header = Buffer.allocUnsafe(this.#type === undefined ? 4 : 5);
    if (this.#type === undefined) header.writeInt32BE(this.#length + 4, 0);
    else {
      header[0] = this.#type;
      header.writeInt32BE(this.#length + 4, 1);
    }
    return Buffer.concat([header, ...this.#parts], header.length + this.#length);
  }

  #push(b: Buffer): this {
    this.#parts.push(b);
    this.#length += b.length;
    return this;
  }
}
