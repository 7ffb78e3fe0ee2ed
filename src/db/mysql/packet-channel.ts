import type { Duplex } from 'node:stream';
import { encodePacket, framePayload, PacketReader, type Packet } from './protocol/index.js';

/** Raised by {@link PacketChannel.read} when the peer closed or the wait timed out. */
export class ChannelClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelClosedError';
  }
}

/** Raised by {@link PacketChannel.read} when the peer sent nothing whole in time. */
export class ReadTimeoutError extends ChannelClosedError {
  constructor() {
    super('timed out waiting for the peer');
    this.name = 'ReadTimeoutError';
  }
}

/**
 * Whole-packet reads and writes on a socket, for the connection phase (greeting, TLS upgrade,
 * authentication) where packets are small and strictly alternate. The relay does not use it:
 * once logged in, {@link detach} hands the socket back with any bytes read ahead.
 */
export class PacketChannel {
  readonly socket: Duplex;
  readonly #reader: PacketReader;
  readonly #queue: Packet[] = [];
  #waiter: { resolve: (p: Packet) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;
  readonly #onData = (chunk: Buffer): void => this.#push(chunk);
  readonly #onEnd = (): void =>
    this.#fail(new ChannelClosedError('the peer closed the connection'));
  readonly #onError = (err: Error): void => this.#fail(err);

  constructor(socket: Duplex, options: { readonly maxPacketBytes: number }) {
    this.socket = socket;
    this.#reader = new PacketReader({ maxPayloadBytes: options.maxPacketBytes });
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    socket.resume();
  }

  /** The next logical packet; rejects on close, error, a malformed frame, or after `timeoutMs`. */
  read(timeoutMs: number): Promise<Packet> {
    const ready = this.#queue.shift();
    // (A failure is reported only once the packets before it have been read.)
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new ReadTimeoutError());
      }, timeoutMs);
      timer.unref();
      this.#waiter = {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Writes one logical packet (split when 16 MiB or more); returns the next sequence id. */
  write(payload: Buffer, seq: number): number {
    if (payload.length < 0xff_ff_ff) {
      this.socket.write(encodePacket(payload, seq));
      return (seq + 1) & 0xff;
    }
    const { parts, nextSeq } = framePayload(payload, seq);
    for (const part of parts) this.socket.write(part);
    return nextSeq;
  }

  /**
   * Stops reading and hands the socket back: returns the bytes received past the last packet
   * read (they belong to whoever reads next: a TLS layer, the relay), whole packets not read
   * yet included, framed as they came.
   */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onEnd);
    this.socket.off('error', this.#onError);
    const unread = this.#queue
      .splice(0)
      .map((p) => Buffer.concat(framePayload(p.payload, p.seq).parts));
    return Buffer.concat([...unread, this.#reader.drain()]);
  }

  #push(chunk: Buffer): void {
    for (const p of this.#reader.push(chunk)) {
      const waiter = this.#waiter;
      if (waiter !== undefined) {
        this.#waiter = undefined;
        waiter.resolve(p);
      } else this.#queue.push(p);
    }
    // Unframeable bytes fail the next read, not the packets before them.
    const error = this.#reader.error;
    if (error !== undefined) this.#fail(error);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#failure);
  }
}
