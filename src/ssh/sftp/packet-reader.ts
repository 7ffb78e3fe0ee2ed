import { SFTP_MAX_PACKET_LENGTH, SftpPacketType } from './constants.js';

/**
 * Body bytes kept of a WRITE or DATA packet; the file data after them is counted, not kept.
 * WRITE needs id (4) + handle (4 + at most 256) + offset (8) + data length (4) = 276.
 */
export const SFTP_BULK_HEAD_BYTES = 512;

const HEADER_BYTES = 5; // uint32 length, byte type (filexfer-02 §3)

/** One complete packet as framed on the wire. */
export interface SftpPacket {
  readonly kind: 'packet';
  readonly type: number;
  /** Body length on the wire: the length field minus the type byte. */
  readonly bodyLength: number;
  /**
   * The body after the type byte. For WRITE and DATA only the first
   * {@link SFTP_BULK_HEAD_BYTES} are kept, so `body.byteLength` may be below `bodyLength`.
   * May be a view into the pushed chunk: decode it before the chunk is reused.
   */
  readonly body: Uint8Array;
  /** Stream offset of the packet's first length byte. */
  readonly offset: number;
}

/** The stream stopped being SFTP at `offset`; nothing after it is decoded. */
export interface SftpDesync {
  readonly kind: 'desync';
  readonly offset: number;
  readonly reason: string;
}

/** What {@link SftpPacketReader.push} yields, in stream order. */
export type SftpFrame = SftpPacket | SftpDesync;

/** Options of {@link SftpPacketReader}. */
export interface SftpPacketReaderOptions {
  /** Largest accepted length field; default {@link SFTP_MAX_PACKET_LENGTH}. */
  readonly maxPacketLength?: number;
}

/**
 * Incremental framer for one direction of an SFTP stream. Feed it chunks cut anywhere; it
 * yields complete packets. A zero or over-long length field means the stream is not (or no
 * longer) SFTP: the reader yields one `desync` frame, drops what it holds and ignores all later
 * input. It never throws and never holds more than one packet (bulk data not at all).
 */
export class SftpPacketReader {
  readonly #maxPacketLength: number;
  readonly #header = new Uint8Array(HEADER_BYTES);
  readonly #headerView = new DataView(this.#header.buffer);
  #headerFill = 0;
  #type = 0;
  #bodyLength = 0;
  #keepLength = 0;
  #received = 0;
  #kept: Uint8Array | undefined;
  #packetOffset = 0;
  #streamOffset = 0;
  #desync: SftpDesync | undefined;

  constructor(options: SftpPacketReaderOptions = {}) {
    this.#maxPacketLength = options.maxPacketLength ?? SFTP_MAX_PACKET_LENGTH;
  }

  /** The desync, once the stream was found undecodable. */
  get desync(): SftpDesync | undefined {
    return this.#desync;
  }

  /** Bytes held for a packet not yet complete (bounded by the max packet length + 5). */
  get bufferedBytes(): number {
    return this.#headerFill + (this.#received > 0 ? Math.min(this.#received, this.#keepLength) : 0);
  }

  /** True while a packet has started but not ended (a stream that ends now was cut). */
  get isMidPacket(): boolean {
    return this.#headerFill > 0;
  }

  /** Bytes pushed so far. */
  get offset(): number {
    return this.#streamOffset;
  }

  /** Consumes one chunk and returns the frames it completed. */
  push(chunk: Uint8Array): SftpFrame[] {
    const frames: SftpFrame[] = [];
    let at = 0;
    while (at < chunk.byteLength && this.#desync === undefined) {
      if (this.#headerFill < HEADER_BYTES) {
        at += this.#fillHeader(chunk, at);
        if (this.#headerFill < HEADER_BYTES) break;
        const desync = this.#startBody();
        if (desync !== undefined) {
          frames.push(desync);
          break;
        }
      }
      at += this.#fillBody(chunk, at);
      if (this.#received === this.#bodyLength) frames.push(this.#finishPacket());
    }
    if (this.#desync !== undefined) this.#streamOffset += chunk.byteLength - at;
    return frames;
  }

  #fillHeader(chunk: Uint8Array, at: number): number {
    if (this.#headerFill === 0) this.#packetOffset = this.#streamOffset;
    const count = Math.min(HEADER_BYTES - this.#headerFill, chunk.byteLength - at);
    this.#header.set(chunk.subarray(at, at + count), this.#headerFill);
    this.#headerFill += count;
    this.#streamOffset += count;
    return count;
  }

  #startBody(): SftpDesync | undefined {
    const header = this.#headerView;
    const length = header.getUint32(0);
    if (length === 0 || length > this.#maxPacketLength) {
      const reason =
        length === 0
          ? 'zero-length packet'
          : `packet length ${length} exceeds the maximum of ${this.#maxPacketLength}`;
      this.#desync = { kind: 'desync', offset: this.#packetOffset, reason };
      this.#headerFill = 0;
      this.#kept = undefined;
      return this.#desync;
    }
    this.#type = header.getUint8(4);
    this.#bodyLength = length - 1;
    const isBulk = this.#type === SftpPacketType.WRITE || this.#type === SftpPacketType.DATA;
    this.#keepLength = isBulk ? Math.min(this.#bodyLength, SFTP_BULK_HEAD_BYTES) : this.#bodyLength;
    this.#received = 0;
    this.#kept = undefined;
    return undefined;
  }

  #fillBody(chunk: Uint8Array, at: number): number {
    const count = Math.min(this.#bodyLength - this.#received, chunk.byteLength - at);
    const keepCount = Math.min(Math.max(this.#keepLength - this.#received, 0), count);
    if (keepCount > 0) {
      if (this.#received === 0 && count === this.#bodyLength) {
        // The whole packet lies in this chunk and is handed out now: view it, copy nothing.
        this.#kept = chunk.subarray(at, at + keepCount);
      } else {
        this.#kept ??= new Uint8Array(this.#keepLength);
        this.#kept.set(chunk.subarray(at, at + keepCount), this.#received);
      }
    }
    this.#received += count;
    this.#streamOffset += count;
    return count;
  }

  #finishPacket(): SftpPacket {
    const packet: SftpPacket = {
      kind: 'packet',
      type: this.#type,
      bodyLength: this.#bodyLength,
      body: this.#kept ?? new Uint8Array(0),
      offset: this.#packetOffset,
    };
    this.#headerFill = 0;
    this.#received = 0;
    this.#kept = undefined;
    return packet;
  }
}
