import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordingSink, SettledInput } from '../../src/recording/index.js';

/** A monotonic clock the test moves by hand. */
export class ManualClock {
  #ms = 0;
  /** Pass as the writer's `clock`. */
  readonly now = (): number => this.#ms;
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** A scratch directory removed by `cleanup()`. */
export interface ScratchDir {
  readonly path: string;
  cleanup(): void;
}

/** Makes a scratch directory for recordings. */
export function makeRecordingDir(): ScratchDir {
  const path = mkdtempSync(join(tmpdir(), 'gh-rec-'));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** An `fs`-style error with an errno code, e.g. ENOSPC. */
export function errnoError(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: simulated`);
  err.code = code;
  return err;
}

/**
 * A sink in memory whose writes can be made to fail (`failWritesFrom`) or to wait until
 * released (`hold()` / `release()`), to stand for a full or slow disk.
 */
export class MemorySink implements RecordingSink {
  readonly path: string;
  readonly chunks: Buffer[] = [];
  writeCalls = 0;
  syncCalls = 0;
  isClosed = false;
  /** From this write call (1-based) on, writes fail with `failCode`. */
  failWritesFrom = Number.POSITIVE_INFINITY;
  failCode = 'ENOSPC';
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  constructor(path = '/memory/test.cast') {
    this.path = path;
  }

  /** Makes later writes wait until `release()`. */
  hold(): void {
    this.#gate = new Promise<void>((resolve) => (this.#open = resolve));
  }

  /** Lets held writes complete. */
  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  async write(data: Uint8Array): Promise<void> {
    this.writeCalls += 1;
    const call = this.writeCalls;
    if (this.#gate !== undefined) await this.#gate;
    if (call >= this.failWritesFrom) throw errnoError(this.failCode);
    this.chunks.push(Buffer.from(data));
  }

  sync(): Promise<void> {
    this.syncCalls += 1;
    return Promise.resolve();
  }

  /** Counted with `sync` (the pacer is the file sink's business). */
  requestSync(): void {
    this.syncCalls += 1;
  }

  close(): Promise<void> {
    this.isClosed = true;
    return Promise.resolve();
  }

  /** Everything written so far, as text. */
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Reads a cast file and parses each line as JSON (the test fails on a bad line). */
export function readCastLines(path: string): unknown[] {
  const text = readFileSync(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** A tiny tmpfs to fill up, or undefined when this machine cannot mount one (not root). */
export function mountTinyTmpfs(sizeBytes: number): ScratchDir | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'gh-rec-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], {
      stdio: 'ignore',
    });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    path: dir,
    cleanup: () => {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sleeps `ms` of real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One settled input token per character of `text`, all of `kind`. */
export function settledTokens(kind: SettledInput['kind'], text: string, atMs = 0): SettledInput[] {
  return Array.from(text, (ch) => ({ atMs, kind, text: ch }));
}
