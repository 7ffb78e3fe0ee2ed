/**
 * A socket stand-in that drives the MySQL relay synchronously, without I/O: what the peer sends
 * is emitted by hand (`socket.emit('data', chunk)`), what the relay writes is counted and, for
 * byte-exact tests, kept. A bench that pushes many statements through drops the bytes instead,
 * so its memory stays flat.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

/** Options of {@link FakeSocket}. */
export interface FakeSocketOptions {
  /** Keep a copy of every write in `written` (default true); false only counts them. */
  readonly isKeepingWrites?: boolean;
}

/** A socket stand-in with the members the relay uses: writes are counted (and kept), reads emitted by hand. */
export class FakeSocket extends EventEmitter {
  destroyed = false;
  bytesWritten = 0;
  /** Copies of the chunks written, in order (empty when writes are not kept). */
  readonly written: Buffer[] = [];
  readonly #isKeepingWrites: boolean;

  constructor(options: FakeSocketOptions = {}) {
    super();
    this.#isKeepingWrites = options.isKeepingWrites ?? true;
  }

  /** This stand-in as the Duplex the relay takes (it has every member the relay calls). */
  asDuplex(): Duplex {
    return this as unknown as Duplex;
  }

  write(chunk: Buffer): boolean {
    this.bytesWritten += chunk.length;
    // A copy: the writer may reuse its buffer.
    if (this.#isKeepingWrites) this.written.push(Buffer.from(chunk));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}
