/**
 * Generic response packets (dev.mysql.com "Generic Response Packets"): OK_Packet, ERR_Packet,
 * EOF_Packet, and the rules that tell them from data rows.
 */
import {
  Capability,
  Header,
  MAX_PACKET_PAYLOAD,
  ServerStatus,
  hasCapability,
} from './constants.js';
import { PayloadReader, PayloadWriter } from './wire.js';

/** OK_Packet fields Gatehouse reads or writes. */
export interface OkPacket {
  readonly affectedRows: number;
  readonly lastInsertId: number;
  readonly statusFlags: number;
  readonly warnings: number;
  readonly info?: string;
}

/** ERR_Packet fields. */
export interface ErrPacket {
  readonly code: number;
  /** Five characters, e.g. `28000`; empty when the server sent none. */
  readonly sqlState: string;
  readonly message: string;
}

/** EOF_Packet fields. */
export interface EofPacket {
  readonly warnings: number;
  readonly statusFlags: number;
}

/** Longest ERR message kept when decoding (servers cap theirs at 512 bytes). */
const MAX_ERROR_MESSAGE_BYTES = 2048;

/** Encodes an OK_Packet (header 0x00; 0xFE when it ends a result set under CLIENT_DEPRECATE_EOF). */
export function encodeOk(
  ok: Partial<OkPacket> = {},
  options: { header?: number; capabilities?: number } = {},
): Buffer {
  const w = new PayloadWriter()
    .u8(options.header ?? Header.OK)
    .lenencInt(ok.affectedRows ?? 0)
    .lenencInt(ok.lastInsertId ?? 0)
    .u16(ok.statusFlags ?? ServerStatus.AUTOCOMMIT)
    .u16(ok.warnings ?? 0);
  const info = ok.info ?? '';
  if (
    options.capabilities !== undefined &&
    hasCapability(options.capabilities, Capability.SESSION_TRACK)
  )
    w.lenencString(info);
  else if (info !== '') w.bytes(Buffer.from(info, 'utf8'));
  return w.toBuffer();
}

/**
 * Decodes the fixed fields of an OK_Packet (0x00 or 0xFE header); the payload may be only the
 * head of the packet. Missing fields read as 0.
 */
export function decodeOk(payload: Buffer): OkPacket {
  const r = new PayloadReader(payload, 1);
  try {
    const affectedRows = r.lenencInt();
    const lastInsertId = r.lenencInt();
    const statusFlags = r.u16();
    const warnings = r.u16();
    return { affectedRows, lastInsertId, statusFlags, warnings };
  } catch {
    return { affectedRows: 0, lastInsertId: 0, statusFlags: 0, warnings: 0 };
  }
}

/** Encodes an ERR_Packet (protocol 4.1 form, with SQLSTATE). */
export function encodeErr(err: ErrPacket): Buffer {
  const state = (err.sqlState + 'HY000').slice(0, 5);
  return new PayloadWriter()
    .u8(Header.ERR)
    .u16(err.code)
    .u8(0x23)
    .bytes(Buffer.from(state, 'latin1'))
    .bytes(Buffer.from(err.message, 'utf8'))
    .toBuffer();
}

/** Decodes an ERR_Packet (with or without the `#SQLSTATE` marker). */
export function decodeErr(payload: Buffer): ErrPacket {
  const r = new PayloadReader(payload, 1);
  try {
    const code = r.u16();
    let sqlState = '';
    if (r.peek() === 0x23 && r.remaining >= 6) {
      r.skip(1);
      sqlState = r.bytes(5).toString('latin1');
    }
    const rest = r.rest();
    return { code, sqlState, message: rest.subarray(0, MAX_ERROR_MESSAGE_BYTES).toString('utf8') };
  } catch {
    return { code: 0, sqlState: '', message: 'malformed error packet' };
  }
}

/** Encodes an EOF_Packet (protocol 4.1). */
export function encodeEof(eof: Partial<EofPacket> = {}): Buffer {
  return new PayloadWriter()
    .u8(Header.EOF)
    .u16(eof.warnings ?? 0)
    .u16(eof.statusFlags ?? ServerStatus.AUTOCOMMIT)
    .toBuffer();
}

/** Decodes an EOF_Packet; missing fields read as 0. */
export function decodeEof(payload: Buffer): EofPacket {
  if (payload.length < 5) return { warnings: 0, statusFlags: 0 };
  return { warnings: payload.readUInt16LE(1), statusFlags: payload.readUInt16LE(3) };
}

/** First byte of a payload (undefined when empty). */
export function headerByte(payload: Buffer): number | undefined {
  return payload.length > 0 ? payload.readUInt8(0) : undefined;
}

/**
 * True when a packet that may also be a row ends a result set or a list of column definitions:
 * an EOF_Packet (0xFE, shorter than 9 bytes), or, under CLIENT_DEPRECATE_EOF, an OK_Packet with
 * the 0xFE header. A row that starts with 0xFE has a first value of 2^24 bytes or more, so its
 * packet is split; a terminator never is.
 */
export function isResultTerminator(
  firstByte: number | undefined,
  payloadLength: number,
  isDeprecateEof: boolean,
): boolean {
  if (firstByte !== Header.EOF) return false;
  return isDeprecateEof ? payloadLength < MAX_PACKET_PAYLOAD : payloadLength < 9;
}

/** Status flags of a terminator packet given its head: an OK under CLIENT_DEPRECATE_EOF, else an EOF. */
export function terminatorStatus(head: Buffer, isDeprecateEof: boolean): number {
  return isDeprecateEof ? decodeOk(head).statusFlags : decodeEof(head).statusFlags;
}
