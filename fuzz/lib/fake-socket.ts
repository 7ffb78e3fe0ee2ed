import { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * An in-memory socket: what the code under test writes is counted and dropped; what the
 * recorded peer sent is delivered with {@link deliver}, one chunk per `data` event (pausing
 * is honoured, like a real socket's).
 */
export class FakeSocket extends Duplex {
  bytesWritten = 0;
  remoteAddress = '127.0.0.1';

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    // Data is pushed by deliver().
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.bytesWritten += chunk.length;
    callback();
  }

  /** Delivers one chunk from the peer (ignored once the socket is closed). */
  deliver(chunk: Buffer): void {
    if (!this.destroyed && !this.readableEnded) this.push(chunk);
  }

  /** The peer closes: end of stream, then close. */
  async hangUp(): Promise<void> {
    if (!this.destroyed) this.push(null);
    await settle();
    this.destroy();
    await settle();
  }
}

/** Lets pending I/O callbacks, promises and immediates run (one event-loop turn). */
export async function settle(): Promise<void> {
  await nextTurn();
}
