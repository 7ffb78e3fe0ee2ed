import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { GatehouseError } from '../core/errors.js';

/** File mode of a recording: owner writes, group (auditors) reads. */
export const RECORDING_FILE_MODE = 0o640;

/** Where a writer's bytes go. The writer hands it whole lines only. */
export interface RecordingSink {
  /** Where the bytes land; reported by `close()` of the writer. */
  readonly path: string;
  /** Appends all of `data`. On failure the sink is left ending where it was (best effort). */
  write(data: Uint8Array): Promise<void>;
  /** Makes what was written durable (fdatasync). */
  sync(): Promise<void>;
  /** Releases the file; no further calls follow. */
  close(): Promise<void>;
}

/**
 * Creates `path` (which must not exist; symlinks are not followed) with mode 0640 and
 * returns a sink appending to it. Throws GH_ALREADY_EXISTS if the file is there, the fs
 * error otherwise.
 */
export async function openFileSink(path: string): Promise<RecordingSink> {
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
  return new FileSink(path, handle);
}

class FileSink implements RecordingSink {
  readonly path: string;
  readonly #handle: FileHandle;
  #size = 0;

  constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  async write(data: Uint8Array): Promise<void> {
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

  sync(): Promise<void> {
    return this.#handle.datasync();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
