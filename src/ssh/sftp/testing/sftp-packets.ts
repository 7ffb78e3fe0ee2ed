// Byte builders for SFTP wire fixtures (in the manner of pg-protocol's testing/test-buffers).
import { SftpAttrFlag, SftpPacketType as T } from '../constants.js';

/** Attributes to encode; a field given sets its flag bit. */
export interface AttrsFixture {
  readonly size?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly permissions?: number;
  readonly atime?: number;
  readonly mtime?: number;
  readonly extended?: ReadonlyArray<readonly [string, string]>;
}

/** Builds one SFTP packet field by field; `build()` prefixes the length. */
export class SftpPacketBuilder {
  readonly #type: number;
  readonly #parts: Buffer[] = [];
  #lengthOverride: number | undefined;

  constructor(type: number) {
    this.#type = type;
  }

  /** Appends a `byte`. */
  byte(value: number): this {
    this.#parts.push(Buffer.from([value & 0xff]));
    return this;
  }

  /** Appends a `uint32`. */
  uint32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0);
    this.#parts.push(b);
    return this;
  }

  /** Appends a `uint64`. */
  uint64(value: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(value));
    this.#parts.push(b);
    return this;
  }

  /** Appends a `string` (UTF-8 text or raw bytes). */
  string(value: string | Uint8Array): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    return this.uint32(bytes.byteLength).raw(bytes);
  }

  /** Appends a handle given as hex. */
  handle(hex: string): this {
    return this.string(Buffer.from(hex, 'hex'));
  }

  /** Appends an ATTRS structure. */
  attrs(attrs: AttrsFixture = {}): this {
    let flags = 0;
    if (attrs.size !== undefined) flags |= SftpAttrFlag.SIZE;
    if (attrs.uid !== undefined || attrs.gid !== undefined) flags |= SftpAttrFlag.UIDGID;
    if (attrs.permissions !== undefined) flags |= SftpAttrFlag.PERMISSIONS;
    if (attrs.atime !== undefined || attrs.mtime !== undefined) flags |= SftpAttrFlag.ACMODTIME;
    if (attrs.extended !== undefined) flags |= SftpAttrFlag.EXTENDED;
    this.uint32(flags >>> 0);
    if (attrs.size !== undefined) this.uint64(attrs.size);
    if ((flags & SftpAttrFlag.UIDGID) !== 0) this.uint32(attrs.uid ?? 0).uint32(attrs.gid ?? 0);
    if (attrs.permissions !== undefined) this.uint32(attrs.permissions);
    if ((flags & SftpAttrFlag.ACMODTIME) !== 0)
      this.uint32(attrs.atime ?? 0).uint32(attrs.mtime ?? 0);
    if (attrs.extended !== undefined) {
      this.uint32(attrs.extended.length);
      for (const [name, data] of attrs.extended) this.string(name).string(data);
    }
    return this;
  }

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): this {
    this.#parts.push(Buffer.from(bytes));
    return this;
  }

  /** Writes `length` into the length field instead of the true one. */
  withLength(length: number): this {
    this.#lengthOverride = length;
    return this;
  }

  /** The packet: uint32 length, byte type, fields. */
  build(): Buffer {
    const body = Buffer.concat(this.#parts);
    const header = Buffer.alloc(5);
    header.writeUInt32BE((this.#lengthOverride ?? body.byteLength + 1) >>> 0);
    header.writeUInt8(this.#type, 4);
    return Buffer.concat([header, body]);
  }
}

/** Starts a packet of `type`. */
export function sftpPacket(type: number): SftpPacketBuilder {
  return new SftpPacketBuilder(type);
}

/** Common client requests. */
export const request = {
  init: (version = 3): Buffer => sftpPacket(T.INIT).uint32(version).build(),
  open: (id: number, path: string, pflags: number, attrs: AttrsFixture = {}): Buffer =>
    sftpPacket(T.OPEN).uint32(id).string(path).uint32(pflags).attrs(attrs).build(),
  close: (id: number, handle: string): Buffer =>
    sftpPacket(T.CLOSE).uint32(id).handle(handle).build(),
  read: (id: number, handle: string, offset: number, length: number): Buffer =>
    sftpPacket(T.READ).uint32(id).handle(handle).uint64(offset).uint32(length).build(),
  write: (id: number, handle: string, offset: number, data: Uint8Array): Buffer =>
    sftpPacket(T.WRITE).uint32(id).handle(handle).uint64(offset).string(data).build(),
  path: (type: number, id: number, path: string): Buffer =>
    sftpPacket(type).uint32(id).string(path).build(),
  mkdir: (id: number, path: string, attrs: AttrsFixture = {}): Buffer =>
    sftpPacket(T.MKDIR).uint32(id).string(path).attrs(attrs).build(),
  rename: (id: number, from: string, to: string): Buffer =>
    sftpPacket(T.RENAME).uint32(id).string(from).string(to).build(),
  extended: (id: number, name: string, ...paths: string[]): Buffer => {
    const b = sftpPacket(T.EXTENDED).uint32(id).string(name);
    for (const p of paths) b.string(p);
    return b.build();
  },
};

/** Common server replies. */
export const reply = {
  version: (version = 3, extensions: ReadonlyArray<readonly [string, string]> = []): Buffer => {
    const b = sftpPacket(T.VERSION).uint32(version);
    for (const [name, data] of extensions) b.string(name).string(data);
    return b.build();
  },
  status: (id: number, code: number, message = ''): Buffer =>
    sftpPacket(T.STATUS).uint32(id).uint32(code).string(message).string('').build(),
  handle: (id: number, handle: string): Buffer =>
    sftpPacket(T.HANDLE).uint32(id).handle(handle).build(),
  data: (id: number, data: Uint8Array): Buffer =>
    sftpPacket(T.DATA).uint32(id).string(data).build(),
};

/** Cuts `bytes` into pieces of 1..`maxPiece` bytes, reproducibly for a given `seed`. */
export function chunkRandomly(bytes: Uint8Array, seed: number, maxPiece = 97): Uint8Array[] {
  let state = seed >>> 0 || 1;
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength;) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const size = 1 + ((state >>> 0) % maxPiece);
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}
