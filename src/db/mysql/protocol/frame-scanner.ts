/**
 * Finds logical packet boundaries in a byte stream without holding the packets: a relay
 * forwards the received chunks as they are and learns, per logical packet, where it starts
 * and ends in the chunk and what its first bytes are. Memory is bounded by `headLimit`,
 * whatever the packet size (split packets of 16 MiB and more included).
 */
import { MAX_PACKET_PAYLOAD, PACKET_HEADER_BYTES } from './constants.js';

/** What the scanner knows about a logical packet once it ends. */
export interface FrameInfo {
  /** Payload bytes (headers of split packets excluded). */
  readonly length: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Physical packets it took (more than one when split). */
  readonly packets: number;
}

/** The first bytes of a logical packet. */
export interface FrameHead {
  /** At most `headLimit` payload bytes; only valid during the callback (copy to keep). */
  readonly bytes: Buffer;
  /** True when `bytes` is the whole payload (the packet ended within the limit). */
  readonly isComplete: boolean;
  readonly firstSeq: number;
}

/** Callbacks of {@link FrameScanner.push}, in stream order for each logical packet. */
export interface FrameEvents {
  /** A logical packet starts at `offset` of the chunk being pushed. */
  start(offset: number): void;
  /** Its head is known: `headLimit` payload bytes arrived or it ended. Once per packet, before `end`. */
  head(head: FrameHead): void;
  /** It ends at `offset` (exclusive) of the chunk being pushed. */
  end(offset: number, info: FrameInfo): void;
}

/** Streaming logical-packet scanner for one direction of a connection. */
export class FrameScanner {
  readonly #headLimit: number;
  readonly #header = Buffer.alloc(PACKET_HEADER_BYTES);
  #headerFill = 0;
  #isInPayload = false;
  #packetRemaining = 0;
  #packetLength = 0;
  // Current logical packet.
  #isActive = false;
  #length = 0;
  #firstSeq = 0;
  #lastSeq = 0;
  #packets = 0;
  // The head so far: one slice (the usual case, no array), or parts when it spans packets or chunks.
  #headFirst: Buffer | undefined;
  #headParts: Buffer[] | undefined;
  #headLength = 0;
  #isHeadDelivered = false;

  constructor(options: { readonly headLimit: number }) {
    this.#headLimit = Math.max(1, options.headLimit);
  }

  /** True while a logical packet has started and not ended (mid-packet at a chunk boundary). */
  get isInPacket(): boolean {
    return this.#isActive;
  }

  /** Scans `chunk`, calling `events` for each boundary found in it. */
  push(chunk: Buffer, events: FrameEvents): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (!this.#isInPayload) {
        if (!this.#isActive) this.#begin(pos, events);
        if (this.#headerFill === 0 && n - pos >= PACKET_HEADER_BYTES) {
          // The whole header in this chunk (the usual case): read in place, no copy.
          this.#startPacket(
            (chunk[pos] ?? 0) | ((chunk[pos + 1] ?? 0) << 8) | ((chunk[pos + 2] ?? 0) << 16),
            chunk[pos + 3] ?? 0,
          );
          pos += PACKET_HEADER_BYTES;
        } else {
          const take = Math.min(PACKET_HEADER_BYTES - this.#headerFill, n - pos);
          chunk.copy(this.#header, this.#headerFill, pos, pos + take);
          this.#headerFill += take;
          pos += take;
          if (this.#headerFill < PACKET_HEADER_BYTES) return;
          this.#startPacket(this.#header.readUIntLE(0, 3), this.#header.readUInt8(3));
        }
      }
      const take = Math.min(this.#packetRemaining, n - pos);
      if (take > 0) {
        if (!this.#isHeadDelivered && this.#headLength < this.#headLimit) {
          const keep = Math.min(take, this.#headLimit - this.#headLength);
          this.#addHeadPart(chunk.subarray(pos, pos + keep));
          this.#headLength += keep;
        }
        pos += take;
        this.#packetRemaining -= take;
        this.#length += take;
      }
      if (this.#packetRemaining === 0) {
        this.#isInPayload = false;
        this.#headerFill = 0;
        if (this.#packetLength < MAX_PACKET_PAYLOAD) {
          this.#finish(pos, events);
          continue;
        }
      }
      if (!this.#isHeadDelivered && this.#headLength >= this.#headLimit)
        this.#deliverHead(events, false);
    }
    // Head parts reference this chunk; keep them past the call only as a copy.
    if (this.#isActive && !this.#isHeadDelivered && this.#headFirst !== undefined) {
      this.#headFirst = Buffer.concat(this.#headParts ?? [this.#headFirst], this.#headLength);
      this.#headParts = undefined;
    }
  }

  #addHeadPart(part: Buffer): void {
    if (this.#headFirst === undefined) this.#headFirst = part;
    else if (this.#headParts === undefined) this.#headParts = [this.#headFirst, part];
    else this.#headParts.push(part);
  }

  #begin(offset: number, events: FrameEvents): void {
    this.#isActive = true;
    this.#length = 0;
    this.#packets = 0;
    this.#headFirst = undefined;
    this.#headParts = undefined;
    this.#headLength = 0;
    this.#isHeadDelivered = false;
    events.start(offset);
  }

  #startPacket(length: number, seq: number): void {
    this.#packetLength = length;
    if (this.#packets === 0) this.#firstSeq = seq;
    this.#lastSeq = seq;
    this.#packets += 1;
    this.#packetRemaining = this.#packetLength;
    this.#isInPayload = true;
  }

  #finish(offset: number, events: FrameEvents): void {
    // Complete only when the head holds every payload byte: a packet longer than the limit
    // that arrived whole in one chunk still has only its first bytes in the head.
    if (!this.#isHeadDelivered) this.#deliverHead(events, this.#headLength === this.#length);
    this.#isActive = false;
    this.#headFirst = undefined;
    this.#headParts = undefined;
    events.end(offset, {
      length: this.#length,
      firstSeq: this.#firstSeq,
      lastSeq: this.#lastSeq,
      packets: this.#packets,
    });
  }

  #deliverHead(events: FrameEvents, isComplete: boolean): void {
    this.#isHeadDelivered = true;
    const parts = this.#headParts;
    const bytes =
      parts !== undefined ? Buffer.concat(parts, this.#headLength) : (this.#headFirst ?? EMPTY);
    this.#headFirst = undefined;
    this.#headParts = undefined;
    events.head({ bytes, isComplete, firstSeq: this.#firstSeq });
  }
}

const EMPTY = Buffer.alloc(0);
