import { chmod, lstat, mkdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.js';
import { AsciicastReader, exportCast, type AsciicastReadOptions } from './asciicast-reader.js';
import {
  AsciicastWriter,
  type AsciicastWriterOptions,
  type RecordingMeta,
} from './asciicast-writer.js';
import { recordingNameInvalid } from './recording-errors.js';
import { assertRecordingRelPath, recordingDayDir, recordingFileName } from './recording-names.js';

/** Mode of the store's directories: owner writes, group (auditors) lists and reads. */
export const RECORDING_DIR_MODE = 0o750;

/** A recording being written, with the store-relative path to keep in the session row. */
export interface OpenedRecording {
  /** `YYYY/MM/DD/<sid>-<channel>.cast`; what `openReader` takes. */
  readonly relPath: string;
  readonly writer: AsciicastWriter;
}

/** Where recordings live. Paths are store-relative and checked: they may come from outside. */
export interface RecordingStore {
  /** Creates the recording of one session channel; it must not exist yet. */
  openWriter(meta: RecordingMeta, options?: AsciicastWriterOptions): Promise<OpenedRecording>;
  /** Opens a recording for reading; GH_NOT_FOUND if missing, GH_INVALID_ARGUMENT for a bad path. */
  openReader(relPath: string, options?: AsciicastReadOptions): Promise<AsciicastReader>;
  /** The recording's bytes for download, after a header check. */
  exportCast(relPath: string): Promise<Readable>;
  /** True when the recording exists as a regular file. */
  exists(relPath: string): Promise<boolean>;
}

/** Options of {@link DirRecordingStore}. */
export interface DirRecordingStoreOptions {
  /** Picks the day directory and the header timestamp (default the system clock). */
  readonly wallClock?: Clock;
}

/**
 * Recordings in a directory tree: `<root>/YYYY/MM/DD/<sid>-<channel>.cast` (UTC day of the
 * channel's start), directories 0750, files 0640. Relative paths are accepted only in
 * exactly that form, so nothing from outside can name a file elsewhere.
 */
export class DirRecordingStore implements RecordingStore {
  readonly #root: string;
  readonly #wallClock: Clock;

  constructor(root: string, options: DirRecordingStoreOptions = {}) {
    this.#root = resolve(root);
    this.#wallClock = options.wallClock ?? systemClock;
  }

  async openWriter(
    meta: RecordingMeta,
    options: AsciicastWriterOptions = {},
  ): Promise<OpenedRecording> {
    const wallClock = options.wallClock ?? this.#wallClock;
    const fileName = recordingFileName(meta.sid, meta.channel); // validates before any mkdir
    const dayDir = recordingDayDir(wallClock());
    await this.#makeDirs(dayDir);
    const writer = await AsciicastWriter.create(join(this.#root, ...dayDir.split('/')), meta, {
      ...options,
      wallClock,
    });
    return { relPath: `${dayDir}/${fileName}`, writer };
  }

  async openReader(relPath: string, options: AsciicastReadOptions = {}): Promise<AsciicastReader> {
    return await AsciicastReader.open(this.#resolve(relPath), options);
  }

  async exportCast(relPath: string): Promise<Readable> {
    return await exportCast(this.#resolve(relPath));
  }

  async exists(relPath: string): Promise<boolean> {
    const path = this.#resolve(relPath);
    try {
      return (await lstat(path)).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  // The absolute path of a checked relative path; the containment check is a second line
  // behind the pattern.
  #resolve(relPath: string): string {
    assertRecordingRelPath(relPath);
    const path = resolve(this.#root, ...relPath.split('/'));
    const rel = relative(this.#root, path);
    if (rel.startsWith('..') || rel.split(sep).length !== 4)
      throw recordingNameInvalid('recording path', relPath);
    return path;
  }

  // Creates root/YYYY/MM/DD level by level, so each new directory gets 0750 whatever the
  // umask; existing ones are left as they are.
  async #makeDirs(dayDir: string): Promise<void> {
    await mkdir(this.#root, { recursive: true, mode: RECORDING_DIR_MODE });
    let dir = this.#root;
    for (const part of dayDir.split('/')) {
      dir = join(dir, part);
      try {
        await mkdir(dir, { mode: RECORDING_DIR_MODE });
        await chmod(dir, RECORDING_DIR_MODE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!(await lstat(dir)).isDirectory())
          throw recordingNameInvalid('recording directory (not a directory)', dir);
      }
    }
  }
}
