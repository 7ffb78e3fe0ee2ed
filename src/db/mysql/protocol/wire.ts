/**
 * MySQL basic data types (dev.mysql.com "Basic Data Types"): fixed-length little-endian
 * integers, length-encoded integers and strings, NUL-terminated strings.
 */

/** A payload that does not parse as the packet it should be. */
export class MysqlProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MysqlProtocolError';
  }
}

/** Reads wire types from one packet payload, front to back; throws MysqlProtocolError past the end. */
export class PayloadReader {
  readonly #buf: Buffer;
  #pos: number;

  constructor(buf: Buffer, position = 0) {
    this.#buf = buf;
    this.#pos = position;
  }

  /** Offset of the next byte. */
  get position(): number {
    return this.#pos;
  }

  /** Bytes left. */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  /** True when every byte was read. */
  get isAtEnd(): boolean {
    return this.#pos >= this.#buf.length;
  }

  /** The next byte, without consuming it (undefined at the end). */
  peek(): number | undefined {
    return this.#pos < this.#buf.length ? this.#buf.readUInt8(this.#pos) : undefined;
  }

  u8(): number {
    this.#need(1);
    const value = this.#buf.readUInt8(this.#pos);
    this.#pos += 1;
    return value;
  }

  u16(): number {
    this.#need(2);
    const value = this.#buf.readUInt16LE(this.#pos);
    this.#pos += 2;
    return value;
  }

  u24(): number {
    this.#need(3);
    const value = this.#buf.readUIntLE(this.#pos, 3);
    this.#pos += 3;
    return value;
  }

  u32(): number {
    this.#need(4);
    const value = this.#buf.readUInt32LE(this.#pos);
    this.#pos += 4;
    return value;
  }

  u64(): bigint {
    this.#need(8);
    const value = this.#buf.readBigUInt64LE(this.#pos);
    this.#pos += 8;
    return value;
  }

  /** int<lenenc>; values past 2^53 throw (no packet length or count gets there). */
  lenencInt(): number {
    const value = this.lenencIntOrNull();
    if (value === null)
      throw new MysqlProtocolError('unexpected NULL (0xfb) length-encoded integer');
    return value;
  }

  /** int<lenenc>, or null for 0xfb (NULL in a text row). */
  lenencIntOrNull(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return null;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      const big = this.u64();
      if (big > BigInt(Number.MAX_SAFE_INTEGER))
        throw new MysqlProtocolError('length-encoded integer too large');
      return Number(big);
    }
    throw new MysqlProtocolError('invalid length-encoded integer prefix 0xff');
  }

  /** Exactly `n` bytes (a view, not a copy). */
  bytes(n: number): Buffer {
    this.#need(n);
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** Bytes up to a NUL, which is consumed; without one, throws. */
  nulBytes(): Buffer {
    const end = this.#buf.indexOf(0, this.#pos);
    if (end < 0) throw new MysqlProtocolError('missing NUL terminator');
    const out = this.#buf.subarray(this.#pos, end);
    this.#pos = end + 1;
    return out;
  }

  /** string<NUL> as UTF-8. */
  nulString(): string {
    return this.nulBytes().toString('utf8');
  }

  /** string<NUL>, or the rest of the payload when no NUL is left (lenient form some clients send). */
  nulStringOrRest(): string {
    const end = this.#buf.indexOf(0, this.#pos);
    return end < 0 ? this.rest().toString('utf8') : this.nulString();
  }

  /** string<lenenc> bytes. */
  lenencBytes(): Buffer {
    return this.bytes(this.lenencInt());
  }

  /** string<lenenc> as UTF-8. */
  lenencString(): string {
    return this.lenencBytes().toString('utf8');
  }

  /** string<EOF>: everything left. */
  rest(): Buffer {
    const out = this.#buf.subarray(this.#pos);
    this.#pos = this.#buf.length;
    return out;
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    this.#need(n);
    this.#pos += n;
  }

  #need(n: number): void {
    if (n < 0 || this.#pos + n > this.#buf.length) {
      throw new MysqlProtocolError(
        `packet too short: need ${n} bytes at offset ${this.#pos} of ${this.#buf.length}`,
      );
    }
  }
}

/** Builds one packet payload from wire types. */
export class PayloadWriter {
  readonly #parts: Buffer[] = [];
  #length = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  u8(value: number): this {
    return this.#fixed(1, (b) => b.writeUInt8(value & 0xff, 0));
  }

  u16(value: number): this {
    return this.#fixed(2, (b) => b.writeUInt16LE(value & 0xffff, 0));
  }

  u24(value: number): this {
    return this.#fixed(3, (b) => b.writeUIntLE(value & 0xff_ff_ff, 0, 3));
  }

  u32(value: number): this {
    return this.#fixed(4, (b) => b.writeUInt32LE(value >>> 0, 0));
  }

  u64(value: bigint | number): this {
    return this.#fixed(8, (b) => b.writeBigUInt64LE(BigInt(value), 0));
  }

  /** int<lenenc>. */
  lenencInt(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`bad length-encoded integer ${value}`);
    if (value < 0xfb) return this.u8(value);
    if (value <= 0xffff) return this.u8(0xfc).u16(value);
    if (value <= 0xff_ff_ff) return this.u8(0xfd).u24(value);
    return this.u8(0xfe).u64(value);
  }

  /** Raw bytes (kept by reference). */
  bytes(value: Buffer): this {
    this.#parts.push(value);
    this.#length += value.length;
    return this;
  }

  /** `n` zero bytes (fillers, reserved fields). */
  zeros(n: number): this {
    return this.bytes(Buffer.alloc(n));
  }

  /** string<NUL>. */
  nulString(value: string | Buffer): this {
    return this.bytes(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).u8(0);
  }

  /** string<lenenc>. */
  lenencString(value: string | Buffer): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.lenencInt(bytes.length).bytes(bytes);
  }

  /** The payload built so far. */
  toBuffer(): Buffer {
    return this.#parts.length === 1 && this.#parts[0] !== undefined
      ? this.#parts[0]
      : Buffer.concat(this.#parts, this.#length);
  }

  #fixed(n: number, write: (b: Buffer) => void): this {
    const b = Buffer.allocUnsafe(n);
    write(b);
    return this.bytes(b);
  }
}
