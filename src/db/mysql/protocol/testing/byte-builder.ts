/**
 * Small builders of MySQL wire fixtures for tests (in the manner of pg-protocol's
 * `testing/test-buffers.ts`): payloads and framed packets, written from the spec.
 */
import { FieldType, Header } from '../constants.js';
import { encodePacket } from '../packets.js';
import { PayloadWriter } from '../wire.js';

/** A framed packet. */
export function packet(seq: number, payload: Buffer | readonly number[]): Buffer {
  return encodePacket(Buffer.isBuffer(payload) ? payload : Buffer.from(payload), seq);
}

/** Frames payloads with consecutive sequence ids from `seq`, concatenated. */
export function packets(seq: number, payloads: readonly Buffer[]): Buffer {
  return Buffer.concat(payloads.map((p, i) => packet(seq + i, p)));
}

/** A Protocol::ColumnDefinition41 payload. */
export function columnDefinition(
  name: string,
  type: number = FieldType.VAR_STRING,
  options: { charset?: number; length?: number } = {},
): Buffer {
  return new PayloadWriter()
    .lenencString('def')
    .lenencString('db')
    .lenencString('t')
    .lenencString('t')
    .lenencString(name)
    .lenencString(name)
    .lenencInt(0x0c)
    .u16(options.charset ?? 45)
    .u32(options.length ?? 255)
    .u8(type)
    .u16(0)
    .u8(0)
    .u16(0)
    .toBuffer();
}

/** A column count packet payload (first packet of a result set). */
export function columnCount(n: number): Buffer {
  return new PayloadWriter().lenencInt(n).toBuffer();
}

/** A text protocol row: each value a string<lenenc>, or 0xFB for NULL. */
export function textRow(values: readonly (string | Buffer | null)[]): Buffer {
  const w = new PayloadWriter();
  for (const v of values) {
    if (v === null) w.u8(Header.LOCAL_INFILE);
    else w.lenencString(v);
  }
  return w.toBuffer();
}

/** A binary protocol row of string values (header 0x00, NULL bitmap with offset 2). */
export function binaryRow(values: readonly (string | null)[]): Buffer {
  const bitmap = Buffer.alloc((values.length + 7 + 2) >> 3);
  const w = new PayloadWriter().u8(0);
  values.forEach((v, i) => {
    if (v === null)
      bitmap.writeUInt8(bitmap.readUInt8((i + 2) >> 3) | (1 << ((i + 2) & 7)), (i + 2) >> 3);
  });
  w.bytes(bitmap);
  for (const v of values) if (v !== null) w.lenencString(v);
  return w.toBuffer();
}

/** Bytes given as hex with optional spaces, e.g. `hex('0a 00')`. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}
