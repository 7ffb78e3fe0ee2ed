import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileSink } from './recording-sink.js';
import { SyncPacer } from './sync-pacer.js';

/** A sync that stays running until `finish()`. */
function heldSync(log: string[], name: string): { run: () => Promise<void>; finish: () => void } {
  let finish = (): void => undefined;
  return {
    run: () => {
      log.push(`start ${name}`);
      return new Promise<void>((resolve) => {
        finish = () => {
          log.push(`end ${name}`);
          resolve();
        };
      });
    },
    finish: () => finish(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SyncPacer', () => {
  it('runs-at-most-its-concurrency-at-once-first-asked-first-served', async () => {
    const pacer = new SyncPacer(2);
    const log: string[] = [];
    const files = ['a', 'b', 'c', 'd'].map((name) => ({ name, sync: heldSync(log, name) }));
    for (const f of files) pacer.request(f, f.sync.run);
    expect(log).toEqual(['start a', 'start b']);
    expect(pacer.running).toBe(2);
    expect(pacer.waiting).toBe(2);
    files[1]?.sync.finish();
    await tick();
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c']);
    files[0]?.sync.finish();
    files[2]?.sync.finish();
    await tick();
    files[3]?.sync.finish();
    await tick();
    expect(log.filter((l) => l.startsWith('start'))).toEqual([
      'start a',
      'start b',
      'start c',
      'start d',
    ]);
    expect(pacer.running + pacer.waiting).toBe(0);
  });

  it('keeps-one-waiting-sync-per-file-so-its-queue-is-bounded-by-the-open-files', async () => {
    const pacer = new SyncPacer(1);
    const log: string[] = [];
    const busy = { sync: heldSync(log, 'busy') };
    pacer.request(busy, busy.sync.run);
    const file = {};
    let runs = 0;
    for (let i = 0; i < 1000; i++)
      pacer.request(file, () => {
        runs += 1;
        return Promise.resolve();
      });
    expect(pacer.waiting).toBe(1);
    busy.sync.finish();
    await tick();
    await tick();
    expect(runs).toBe(1);
  });

  it('a-cancelled-file-is-not-synced-and-a-failing-sync-does-not-stop-the-others', async () => {
    const pacer = new SyncPacer(1);
    const log: string[] = [];
    const busy = { sync: heldSync(log, 'busy') };
    pacer.request(busy, busy.sync.run);
    const gone = {};
    pacer.request(gone, () => {
      log.push('gone synced');
      return Promise.resolve();
    });
    pacer.cancel(gone);
    pacer.request({}, () => Promise.reject(new Error('EIO')));
    const last = {};
    pacer.request(last, () => {
      log.push('last synced');
      return Promise.resolve();
    });
    busy.sync.finish();
    for (let i = 0; i < 4; i++) await tick();
    expect(log).toEqual(['start busy', 'end busy', 'last synced']);
  });
});

describe('file sink: paced sync', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('a-requested-sync-runs-through-the-pacer-and-close-waits-for-it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-pacer-'));
    const pacer = new SyncPacer(1);
    const log: string[] = [];
    const busy = { sync: heldSync(log, 'busy') };
    pacer.request(busy, busy.sync.run);
    const sink = await openFileSink(join(dir, 'x.cast'), { pacer });
    await sink.write(Buffer.from('line\n'));
    sink.requestSync();
    expect(pacer.waiting).toBe(1); // behind the busy one: the write above did not wait for it
    const closed = sink.close();
    expect(pacer.waiting).toBe(0); // close drops a sync still waiting; it syncs nothing itself
    await closed;
    busy.sync.finish();
    expect(readFileSync(join(dir, 'x.cast'), 'utf8')).toBe('line\n');
  });

  it('sync-waits-for-its-turn-and-callers-asking-meanwhile-share-one-fsync', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-pacer-'));
    const pacer = new SyncPacer(1);
    const log: string[] = [];
    const busy = { sync: heldSync(log, 'busy') };
    pacer.request(busy, busy.sync.run);
    const sink = await openFileSink(join(dir, 'y.cast'), { pacer });
    await sink.write(Buffer.from('line\n'));
    let synced = 0;
    const first = sink.sync().then(() => (synced += 1));
    sink.requestSync();
    const second = sink.sync().then(() => (synced += 1));
    await tick();
    expect(synced).toBe(0); // the busy file's sync holds the only slot
    expect(pacer.waiting).toBe(1); // one fsync queued for the three requests
    busy.sync.finish();
    await Promise.all([first, second]);
    expect(synced).toBe(2);
    await sink.close();
  });
});
