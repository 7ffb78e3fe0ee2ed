import type { Duplex } from 'node:stream';
import {
  describeType,
  MAX_STARTUP_PACKET_BYTES,
  PgProtocolError,
  startupPacketLength,
} from './protocol/index.js';

/** The peer closed the connection while a packet was awaited. */
export class ConnectionClosedError extends Error {
  constructor() {
    super('connection closed');
    this.name = 'ConnectionClosedError';
  }
}

/** One typed message read whole. */
export interface ReadMessage {
  readonly type: number;
  readonly body: Buffer;
}

/**
 * Reads the handshake phase of a connection (startup packet, authentication, until
 * ReadyForQuery) one packet at a time, by awaiting. Afterwards `detach()` hands the bytes
 * read ahead to the relay and stops listening. Each read is bounded by a length limit.
 */
export class PacketReader {
  readonly #stream: Duplex;
  #chunks: Buffer[] = [];
  #size = 0;
  #waiter: (() => void) | undefined;
  #error: Error | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    this.#wake();
  };
  readonly #onEnd = (): void => {
    this.#error ??= new ConnectionClosedError();
    this.#wake();
  };
  readonly #onError = (err: Error): void => {
    this.#error ??= err;
    this.#wake();
  };

  constructor(stream: Duplex) {
    this.#stream = stream;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
    stream.on('error', this.#onError);
    stream.resume(); // a stream paused by an earlier reader flows again
  }

  /** Bytes received and not read yet. */
  get buffered(): number {
    return this.#size;
  }

  /** Reads one byte (the answer to SSLRequest or GSSENCRequest). */
  async byte(): Promise<number> {
    const b = await this.#take(1);
    return b[0] ?? 0;
  }

  /** Reads an untyped startup-phase packet (length included), at most 10,000 bytes. */
  async startupPacket(): Promise<Buffer> {
    await this.#fill(4);
    const length = startupPacketLength(this.#peek(4)) ?? MAX_STARTUP_PACKET_BYTES;
    return this.#take(length);
  }

  /** Reads one typed message whose body is at most `maxBody` bytes. */
  async message(maxBody: number): Promise<ReadMessage> {
    await this.#fill(5);
    const header = this.#peek(5);
    const type = header[0] ?? 0;
    const length = header.readInt32BE(1);
    if (length < 4 || length - 4 > maxBody)
      throw new PgProtocolError(`invalid length ${length} for message type ${describeType(type)}`);
    const whole = await this.#take(length + 1);
    return { type, body: whole.subarray(5) };
  }

  /** Stops reading (pausing the stream for its next reader) and returns what arrived beyond the last packet read. */
  detach(): Buffer {
    this.#stream.pause();
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onEnd);
    this.#stream.off('error', this.#onError);
    const rest = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    this.#size = 0;
    return rest;
  }

  async #fill(n: number): Promise<void> {
    while (this.#size < n) {
      if (this.#error !== undefined) throw this.#error;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [joined];
    return joined.subarray(0, n);
  }

  async #take(n: number): Promise<Buffer> {
    await this.#fill(n);
    const head = this.#peek(n);
    const out = Buffer.from(head); // a copy: the chunk it came from is released below
    const joined =
      this.#chunks.length === 1
        ? (this.#chunks[0] ?? Buffer.alloc(0))
        : Buffer.concat(this.#chunks, this.#size);
    const rest = joined.subarray(n);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#size = rest.length;
    return out;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
