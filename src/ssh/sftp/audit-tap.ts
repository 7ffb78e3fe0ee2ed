import type { SftpAuditStats, SftpDirection } from './audit-events.js';
import { SftpAuditTracker, type SftpAuditTrackerOptions } from './audit-tracker.js';
import { decodeClientPacket, decodeServerPacket } from './decode.js';
import { SftpPacketReader } from './packet-reader.js';

/** Options of {@link SftpAuditTap}. */
export interface SftpAuditTapOptions extends SftpAuditTrackerOptions {
  /** Largest accepted packet length field, both directions; default 256 KiB. */
  readonly maxPacketLength?: number;
}

/**
 * What a relay attaches to an SFTP channel: hand it each chunk as it is forwarded (it only
 * reads them) and call {@link SftpAuditTap.end} when the channel closes. Feed a client chunk
 * no later than forwarding it, so a request is always seen before its reply. Nothing here
 * throws into the relay: an internal fault stops decoding that direction and is reported as a
 * desync plus `onError`.
 */
export class SftpAuditTap {
  readonly #tracker: SftpAuditTracker;
  readonly #onError: (error: unknown) => void;
  readonly #readers: Record<SftpDirection, SftpPacketReader>;
  readonly #isBroken: Record<SftpDirection, boolean> = { client: false, server: false };

  constructor(options: SftpAuditTapOptions) {
    this.#tracker = new SftpAuditTracker(options);
    this.#onError = options.onError ?? (() => undefined);
    const readerOptions =
      options.maxPacketLength === undefined ? {} : { maxPacketLength: options.maxPacketLength };
    this.#readers = {
      client: new SftpPacketReader(readerOptions),
      server: new SftpPacketReader(readerOptions),
    };
  }

  /** True once either direction stopped being decoded: the audit of this channel has gaps. */
  get isBlind(): boolean {
    return this.#isDead('client') || this.#isDead('server');
  }

  /** The tracker's counters. */
  get stats(): SftpAuditStats {
    return this.#tracker.stats;
  }

  /** Takes bytes the client sent toward the server. */
  fromClient(chunk: Uint8Array): void {
    this.#take('client', chunk);
  }

  /** Takes bytes the server sent toward the client. */
  fromServer(chunk: Uint8Array): void {
    this.#take('server', chunk);
  }

  /** The channel closed: flushes open files and unanswered requests as events. */
  end(): void {
    try {
      this.#tracker.end();
    } catch (error) {
      this.#onError(error);
    }
  }

  #isDead(direction: SftpDirection): boolean {
    return this.#isBroken[direction] || this.#readers[direction].desync !== undefined;
  }

  #take(direction: SftpDirection, chunk: Uint8Array): void {
    if (this.#isBroken[direction]) return;
    const reader = this.#readers[direction];
    try {
      for (const frame of reader.push(chunk)) {
        if (frame.kind === 'desync') this.#tracker.onDesync(direction, frame);
        else if (direction === 'client') this.#tracker.onClientMessage(decodeClientPacket(frame));
        else this.#tracker.onServerMessage(decodeServerPacket(frame));
      }
    } catch (error) {
      // A bug of ours, not the peer's: stop decoding this direction rather than fail again on
      // every chunk, and leave a trace in the audit.
      this.#isBroken[direction] = true;
      this.#onError(error);
      try {
        this.#tracker.onDesync(direction, {
          kind: 'desync',
          offset: reader.offset,
          reason: 'internal error while decoding',
        });
      } catch (secondError) {
        this.#onError(secondError);
      }
    }
  }
}
