/**
 * Paces the periodic fsyncs of recordings and transcripts. Every open recording asks for one
 * about once a second; fsync runs on libuv's thread pool (4 threads), which also serves every
 * file open and write, `crypto.scrypt` and DNS. With hundreds of sessions each fsync-ing on its
 * own, the pool's queue grew without bound under load: opening a recording for a new channel
 * waited tens of seconds behind fsyncs, and logins timed out (`npm run soak`, docs/soak.md).
 *
 * The pacer runs at most `concurrency` syncs at once, first asked first served, and keeps at
 * most one waiting per file (asking again while one waits changes nothing), so its queue is
 * bounded by the number of open files. Under load each file is synced less often; writes and
 * opens are never stuck behind a backlog of syncs.
 */
export class SyncPacer {
  readonly concurrency: number;
  readonly #waiting = new Map<object, () => Promise<void>>();
  #running = 0;

  constructor(concurrency: number) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    this.concurrency = concurrency;
  }

  /** Syncs waiting for their turn (at most one per file). */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Syncs running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Queues `sync` for `file` unless one is waiting already. `sync` must not reject (it keeps
   * its own error for the file's owner); a rejection is ignored.
   */
  request(file: object, sync: () => Promise<void>): void {
    if (this.#waiting.has(file)) return;
    this.#waiting.set(file, sync);
    this.#pump();
  }

  /** Drops the waiting sync of `file`, if any (a running one finishes). */
  cancel(file: object): void {
    this.#waiting.delete(file);
  }

  #pump(): void {
    while (this.#running < this.concurrency) {
      const next = this.#waiting.entries().next();
      if (next.done === true) return;
      const [file, sync] = next.value;
      this.#waiting.delete(file);
      this.#running += 1;
      void sync()
        .catch(() => undefined)
        .finally(() => {
          this.#running -= 1;
          this.#pump();
        });
    }
  }
}

/**
 * The pacer of every recording and transcript file of the process. Two at a time leaves two
 * of the pool's four threads to opens and writes.
 */
export const fileSyncPacer = new SyncPacer(2);
