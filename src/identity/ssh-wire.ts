/** Reads SSH wire encodings (RFC 4251 §5): uint32-length-prefixed strings, bytes, booleans. */
export class SshWireReader {
  readonly #buf: Buffer;
  #pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  /** Reads a `string` (uint32 length + bytes); undefined when the buffer is too short. */
  readString(): Buffer | undefined {
    if (this.#pos + 4 > this.#buf.length) return undefined;
    const len = this.#buf.readUInt32BE(this.#pos);
    const start = this.#pos + 4;
    if (start + len > this.#buf.length) return undefined;
    this.#pos = start + len;
    return this.#buf.subarray(start, start + len);
  }

  /** Reads one byte; undefined at the end. */
  readByte(): number | undefined {
    const b = this.#buf[this.#pos];
    if (b !== undefined) this.#pos++;
    return b;
  }

  /** True when every byte has been read. */
  isAtEnd(): boolean {
    return this.#pos === this.#buf.length;
  }
}

/** Encodes SSH `string` fields (uint32 length + bytes) back to back. */
export function encodeSshStrings(...fields: readonly (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    parts.push(len, bytes);
  }
  return Buffer.concat(parts);
}
