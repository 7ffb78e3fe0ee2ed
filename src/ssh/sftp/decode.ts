import { SftpPacketType as T } from './constants.js';
import { readExtendedRequest } from './decode-extended.js';
import { readAttrs, readExtensionPairs } from './decode-fields.js';
import type {
  SftpClientMessage,
  SftpMalformed,
  SftpNameEntry,
  SftpServerMessage,
} from './messages.js';
import type { SftpPacket } from './packet-reader.js';
import { WireCursor } from './wire-cursor.js';

// Bytes after a message's last field are ignored, as OpenSSH's sftp-server does: refusing them
// here would let a client hide a request the server still carries out.

/** Decodes a client→server packet; never throws (a bad packet is `malformed`). */
export function decodeClientPacket(packet: SftpPacket): SftpClientMessage {
  const cursor = new WireCursor(packet.body);
  if (packet.type === T.INIT) {
    const version = cursor.uint32();
    if (cursor.failure !== undefined) return malformed(packet, cursor.failure);
    return { kind: 'init', version, extensions: readExtensionPairs(cursor) };
  }
  if (!isClientRequestType(packet.type)) return { kind: 'unknown', type: packet.type };
  const id = cursor.uint32();
  const message = readClientRequest(packet, id, cursor);
  return cursor.failure === undefined ? message : malformed(packet, cursor.failure, id);
}

/** Decodes a server→client packet; never throws (a bad packet is `malformed`). */
export function decodeServerPacket(packet: SftpPacket): SftpServerMessage {
  const cursor = new WireCursor(packet.body);
  if (packet.type === T.VERSION) {
    const version = cursor.uint32();
    if (cursor.failure !== undefined) return malformed(packet, cursor.failure);
    return { kind: 'version', version, extensions: readExtensionPairs(cursor) };
  }
  if (!isServerReplyType(packet.type)) return { kind: 'unknown', type: packet.type };
  const id = cursor.uint32();
  const message = readServerReply(packet, id, cursor);
  return cursor.failure === undefined ? message : malformed(packet, cursor.failure, id);
}

function readClientRequest(packet: SftpPacket, id: number, c: WireCursor): SftpClientMessage {
  switch (packet.type) {
    case T.OPEN:
      return { kind: 'open', id, path: c.text(), pflags: c.uint32(), attrs: readAttrs(c) };
    case T.CLOSE:
      return { kind: 'close', id, handle: c.handle() };
    case T.READ:
      return { kind: 'read', id, handle: c.handle(), offset: c.uint64(), length: c.uint32() };
    case T.WRITE: {
      const handle = c.handle();
      const offset = c.uint64();
      // The reader kept only the head of a WRITE; the data's length is checked against the
      // packet's length on the wire.
      const dataLength = c.skippedStringLength(packet.bodyLength);
      return { kind: 'write', id, handle, offset, dataLength };
    }
    case T.LSTAT:
      return { kind: 'lstat', id, path: c.text() };
    case T.STAT:
      return { kind: 'stat', id, path: c.text() };
    case T.FSTAT:
      return { kind: 'fstat', id, handle: c.handle() };
    case T.SETSTAT:
      return { kind: 'setstat', id, path: c.text(), attrs: readAttrs(c) };
    case T.FSETSTAT:
      return { kind: 'fsetstat', id, handle: c.handle(), attrs: readAttrs(c) };
    case T.OPENDIR:
      return { kind: 'opendir', id, path: c.text() };
    case T.READDIR:
      return { kind: 'readdir', id, handle: c.handle() };
    case T.REMOVE:
      return { kind: 'remove', id, path: c.text() };
    case T.MKDIR:
      return { kind: 'mkdir', id, path: c.text(), attrs: readAttrs(c) };
    case T.RMDIR:
      return { kind: 'rmdir', id, path: c.text() };
    case T.REALPATH:
      return { kind: 'realpath', id, path: c.text() };
    case T.RENAME:
      return { kind: 'rename', id, oldPath: c.text(), newPath: c.text() };
    case T.READLINK:
      return { kind: 'readlink', id, path: c.text() };
    case T.SYMLINK:
      return { kind: 'symlink', id, targetPath: c.text(), linkPath: c.text() };
    default: {
      const name = c.text();
      return { kind: 'extended', id, name, request: readExtendedRequest(name, c) };
    }
  }
}

function readServerReply(packet: SftpPacket, id: number, c: WireCursor): SftpServerMessage {
  switch (packet.type) {
    case T.STATUS: {
      const code = c.uint32();
      // Some v3 servers end STATUS after the code; a missing or broken message is not an
      // error worth losing the code for.
      const tail = new WireCursor(c.rest());
      const message = tail.remaining > 0 ? tail.text() : '';
      const language = tail.remaining > 0 ? tail.text() : '';
      return { kind: 'status', id, code, message, language };
    }
    case T.HANDLE:
      return { kind: 'handle', id, handle: c.handle() };
    case T.DATA:
      return { kind: 'data', id, dataLength: c.skippedStringLength(packet.bodyLength) };
    case T.NAME:
      return { kind: 'name', id, entries: readNameEntries(c) };
    case T.ATTRS:
      return { kind: 'attrs', id, attrs: readAttrs(c) };
    default:
      return { kind: 'extended-reply', id, dataLength: c.rest().byteLength };
  }
}

function readNameEntries(cursor: WireCursor): SftpNameEntry[] {
  const count = cursor.uint32();
  // An entry is at least two empty strings and an ATTRS flags word.
  if (count > cursor.remaining / 12) cursor.fail(`${count} names cannot fit`);
  const entries: SftpNameEntry[] = [];
  for (let i = 0; i < count && cursor.failure === undefined; i += 1) {
    entries.push({ filename: cursor.text(), longname: cursor.text(), attrs: readAttrs(cursor) });
  }
  return entries;
}

function isClientRequestType(type: number): boolean {
  return (type >= T.OPEN && type <= T.SYMLINK) || type === T.EXTENDED;
}

function isServerReplyType(type: number): boolean {
  return (type >= T.STATUS && type <= T.ATTRS) || type === T.EXTENDED_REPLY;
}

function malformed(packet: SftpPacket, reason: string, id?: number): SftpMalformed {
  // The id is only worth reporting when the packet was long enough to carry one.
  return id === undefined || packet.body.byteLength < 4
    ? { kind: 'malformed', type: packet.type, reason }
    : { kind: 'malformed', type: packet.type, id, reason };
}
