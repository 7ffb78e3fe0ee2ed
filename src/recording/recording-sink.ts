import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { GatehouseError } from '../core/errors.js';
import { fileSyncPacer, type SyncPacer } from './sync-pacer.js';

/** File mode of a recording: owner writes, group (auditors) reads. */
export const RECORDING_FILE_MODE = 0o640;

/** Where a writer's bytes go. The writer hands it whole lines only. */
export interface RecordingSink {
  /** Where the bytes land; reported by `close()` of the writer. */
  readonly path: string;
  /** Appends all of `data`. On failure the sink is left ending where it was (best effort). */
  write(data: Uint8Array): Promise<void>;
  /**
   * Makes what was written durable (fdatasync) when the process-wide pacer gets to it;
   * rejects with its failure, or with an earlier paced sync's.
   */
  sync(): Promise<void>;
  /**
   * Asks for a sync when the process-wide pacer gets to it, without waiting (the periodic
   * "lose at most about a second" sync). Its failure is thrown by the next `write` or `sync`.
   */
  requestSync(): void;
  /** Releases the file; no further calls follow. */
  close(): Promise<void>;
}

/**
 * Creates `path` (which must not exist; symlinks are not followed) with mode 0640 and
 * returns a sink appending to it. Throws GH_ALREADY_EXISTS if the file is there, the fs
 * error otherwise.
 */
export async function openFileSink(
  path: string,
  options: { readonly pacer?: SyncPacer } = {},
): Promise<RecordingSink> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  let handle: FileHandle;
  try {
    handle = await open(path, flags, RECORDING_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new GatehouseError('GH_ALREADY_EXISTS', {
        detail: `recording ${path} exists`,
        cause: err,
      });
    }
    throw err;
  }
  try {
    await handle.chmod(RECORDING_FILE_MODE); // the umask must not widen or narrow it
  } catch (err) {
    await handle.close();
    throw err;
  }
  return new FileSink(path, handle, options.pacer ?? fileSyncPacer);
}

class FileSink implements RecordingSink {
  readonly path: string;
  readonly #handle: FileHandle;
  readonly #pacer: SyncPacer;
  #size = 0;
  /** A sync is queued in the pacer and has not started: later requests join it. */
  #isSyncWaiting = false;
  /** Callers of `sync()` waiting for the queued sync. */
  #syncWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** Syncs running now: `close` waits for them before closing the file. */
  readonly #running = new Set<Promise<void>>();
  #syncError: unknown;
  #isClosing = false;

  constructor(path: string, handle: FileHandle, pacer: SyncPacer) {
    this.path = path;
    this.#handle = handle;
    this.#pacer = pacer;
  }

  async write(data: Uint8Array): Promise<void> {
    this.#throwSyncError();
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.#handle.write(
          data,
          done,
          data.length - done,
          this.#size + done,
        );
        if (bytesWritten <= 0) throw new Error('write made no progress');
        done += bytesWritten;
      }
    } catch (err) {
      // A partial write (e.g. ENOSPC half-way) would leave a cut line: take it back so the
      // file still ends on a whole line and plays.
      if (done > 0) await this.#handle.truncate(this.#size).catch(() => undefined);
      throw err;
    }
    this.#size += data.length;
  }

  // Through the pacer too: hundreds of sessions ending at once must not flood the thread pool.
  sync(): Promise<void> {
    this.#throwSyncError();
    return new Promise<void>((resolve, reject) => {
      this.#syncWaiters.push({ resolve, reject });
      this.#queueSync();
    });
  }

  requestSync(): void {
    if (!this.#isClosing) this.#queueSync();
  }

  async close(): Promise<void> {
    this.#isClosing = true;
    this.#pacer.cancel(this);
    if (this.#isSyncWaiting) {
      this.#isSyncWaiting = false;
      if (this.#syncWaiters.length > 0) void this.#runSync(); // callers still wait for it
    }
    await Promise.all(this.#running);
    await this.#handle.close();
  }

  #queueSync(): void {
    if (this.#isSyncWaiting) return;
    this.#isSyncWaiting = true;
    this.#pacer.request(this, () => {
      this.#isSyncWaiting = false;
      return this.#runSync();
    });
  }

  #runSync(): Promise<void> {
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    const run = this.#handle.datasync().then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        this.#syncError ??= err;
        for (const w of waiters) w.reject(err);
      },
    );
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
    return run;
  }

  #throwSyncError(): void {
    if (this.#syncError === undefined) return;
    throw this.#syncError instanceof Error ? this.#syncError : new Error('fdatasync failed');
  }
}
