/**
 * MySQL packet framing (dev.mysql.com "MySQL Packets"): int<3> payload length, int<1> sequence
 * id, payload. A payload of 2^24−1 bytes or more travels as several packets of 2^24−1 bytes
 * followed by a shorter one (possibly empty); together they are one logical packet.
 */
import { MAX_PACKET_PAYLOAD, PACKET_HEADER_BYTES } from './constants.js';
import { MysqlProtocolError } from './wire.js';

/** One logical packet (split packets joined). */
export interface Packet {
  /** Sequence id of its first physical packet. */
  readonly seq: number;
  /** Sequence id of its last physical packet (the next one expected is this + 1). */
  readonly lastSeq: number;
  readonly payload: Buffer;
}

/** Frames a payload as one or more physical packets starting at `seq`; returns header and payload views. */
export function framePayload(payload: Buffer, seq: number): { parts: Buffer[]; nextSeq: number } {
  const parts: Buffer[] = [];
  let offset = 0;
  let current = seq & 0xff;
  for (;;) {
    const size = Math.min(MAX_PACKET_PAYLOAD, payload.length - offset);
    parts.push(packetHeader(size, current));
    if (size > 0) parts.push(payload.subarray(offset, offset + size));
    offset += size;
    current = (current + 1) & 0xff;
    if (size < MAX_PACKET_PAYLOAD) break;
  }
  return { parts, nextSeq: current };
}

/** Frames a payload into one buffer (small packets: handshake, OK, ERR, commands). */
export function encodePacket(payload: Buffer, seq: number): Buffer {
  const { parts } = framePayload(payload, seq);
  return parts.length === 2 && parts[0] !== undefined && parts[1] !== undefined
    ? Buffer.concat([parts[0], parts[1]], PACKET_HEADER_BYTES + payload.length)
    : Buffer.concat(parts);
}

/** The 4-byte header of a physical packet. */
export function packetHeader(payloadLength: number, seq: number): Buffer {
  const header = Buffer.allocUnsafe(PACKET_HEADER_BYTES);
  header.writeUIntLE(payloadLength, 0, 3);
  header.writeUInt8(seq & 0xff, 3);
  return header;
}

/** Options of {@link PacketReader}. */
export interface PacketReaderOptions {
  /** Largest logical payload accepted; a longer one throws MysqlProtocolError. */
  readonly maxPayloadBytes: number;
}

/**
 * Collects bytes into whole logical packets (for the connection phase and small clients). It
 * copies each payload once, when complete; a packet over `maxPayloadBytes` is refused as soon
 * as its headers say so, before its bytes are kept.
 */
export class PacketReader {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #parts: Buffer[] = [];
  #partsLength = 0;
  #firstSeq = -1;
  #error: MysqlProtocolError | undefined;

  constructor(options: PacketReaderOptions) {
    this.#max = options.maxPayloadBytes;
  }

  /** Bytes received but not yet returned as part of a packet. */
  get bufferedBytes(): number {
    return this.#buffered + this.#partsLength;
  }

  /** Why the bytes after the last returned packet cannot be read (they stay for {@link drain}). */
  get error(): MysqlProtocolError | undefined {
    return this.#error;
  }

  /**
   * Adds received bytes; returns the logical packets completed by them, in order. Bytes that do
   * not frame as an acceptable packet are left unread and {@link error} says why; packets
   * completed before them are still returned (an SSLRequest followed by a TLS ClientHello in
   * the same chunk is not an error until someone reads past the SSLRequest).
   */
  push(chunk: Buffer): Packet[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const out: Packet[] = [];
    for (;;) {
      if (this.#error !== undefined || this.#buffered < PACKET_HEADER_BYTES) return out;
      const header = this.#peek(PACKET_HEADER_BYTES);
      const length = header.readUIntLE(0, 3);
      const seq = header.readUInt8(3);
      if (this.#partsLength + length > this.#max) {
        this.#error = new MysqlProtocolError(`packet of more than ${this.#max} bytes`);
        return out;
      }
      if (this.#buffered < PACKET_HEADER_BYTES + length) return out;
      this.#take(PACKET_HEADER_BYTES);
      if (this.#firstSeq < 0) this.#firstSeq = seq;
      if (length > 0) {
        this.#parts.push(this.#take(length));
        this.#partsLength += length;
      }
      if (length < MAX_PACKET_PAYLOAD) {
        const payload =
          this.#parts.length === 1 && this.#parts[0] !== undefined
            ? this.#parts[0]
            : Buffer.concat(this.#parts, this.#partsLength);
        out.push({ seq: this.#firstSeq, lastSeq: seq, payload });
        this.#parts = [];
        this.#partsLength = 0;
        this.#firstSeq = -1;
      }
    }
  }

  /** Hands back the bytes not consumed yet (e.g. a TLS ClientHello after an SSLRequest). */
  drain(): Buffer {
    const rest = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    return rest;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.#chunks, this.#buffered).subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return Buffer.from(out);
    }
    const all = Buffer.concat(this.#chunks, this.#buffered);
    const out = all.subarray(0, n);
    this.#chunks = all.length > n ? [all.subarray(n)] : [];
    this.#buffered -= n;
    return out;
  }
}
