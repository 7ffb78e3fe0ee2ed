import { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Segment } from './input.js';

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

/**
 * Plays a recorded session's login phase into `client`: its client segments one at a time (the
 * recorded server bytes were the gateway's own answers) until `login` settles, and a hang-up
 * when they run out first. Returns the login's outcome and the index of the first segment after
 * the login phase.
 */
export async function playLogin<T>(
  client: FakeSocket,
  segments: readonly Segment[],
  login: Promise<T>,
): Promise<{ readonly outcome: T; readonly at: number }> {
  let isDone = false;
  const settled = login.finally(() => {
    isDone = true;
  });
  let at = 0;
  while (!isDone && at < segments.length) {
    const seg = segments[at++] as Segment;
    if (seg.dir === 'c') client.deliver(seg.data);
    await settle();
  }
  if (!isDone) await client.hangUp();
  return { outcome: await settled, at };
}

/** Lets pending I/O callbacks, promises and immediates run (one event-loop turn). */
export async function settle(): Promise<void> {
  await nextTurn();
}
