import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import {
  DbTranscriptStore,
  DbTranscriptWriter,
  isDbTranscriptPath,
  readDbTranscript,
} from './db-transcript.js';
import type { RecordingSink } from './recording-sink.js';

const META = {
  sid: 'ses_abc',
  user: 'alice',
  target: 'orders-db',
  protocol: 'postgres',
  account: 'leased',
  database: 'app',
};
const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-dbt-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('db transcripts', () => {
  it('writes-a-header-and-entries-that-read-back-with-the-file-hash', async () => {
    let now = 1000;
    const store = new DbTranscriptStore(scratch(), { wallClock: () => Date.UTC(2025, 0, 2) });
    const { relPath, writer } = await store.open(META, { clock: () => now });
    expect(relPath).toBe('2025/01/02/ses_abc.db.ndjson');
    expect(isDbTranscriptPath(relPath)).toBe(true);
    writer.append('query', { sql: 'select 1', rows: 1, durationMs: 2 });
    now += 250;
    writer.append('query', { sql: 'select 2', rows: 1, durationMs: 1 });
    const result = await writer.close();
    expect(createHash('sha256').update(readFileSync(result.path)).digest('hex')).toBe(
      result.sha256,
    );
    expect(statSync(result.path).mode & 0o777).toBe(0o640);
    const read = await store.read(relPath);
    expect(read.header).toMatchObject({
      format: 'gatehouse-db-transcript',
      version: 1,
      ...META,
      startedAt: Date.UTC(2025, 0, 2),
    });
    expect(read.entries).toEqual([
      { t: 0, type: 'query', sql: 'select 1', rows: 1, durationMs: 2 },
      { t: 250, type: 'query', sql: 'select 2', rows: 1, durationMs: 1 },
    ]);
    expect(read.isTruncated).toBe(false);
  });

  it('each-line-is-the-json-of-t-type-and-the-fields', async () => {
    const store = new DbTranscriptStore(scratch());
    const { writer } = await store.open(META, { clock: () => 0 });
    const entries = [
      { sql: "select 'é' -- \"\u2028", params: ['1', null], rows: 1 },
      {},
      { t: 99, type: 'other', x: 1 },
    ];
    for (const fields of entries) writer.append('query', fields);
    const { path } = await writer.close();
    const lines = readFileSync(path, 'utf8').split('\n').slice(1, -1);
    expect(lines).toEqual(
      entries.map((fields) => JSON.stringify({ t: 0, type: 'query', ...fields })),
    );
  });

  it('lines-reach-the-disk-within-a-second-without-close', async () => {
    const store = new DbTranscriptStore(scratch());
    const { writer } = await store.open(META, { flushIntervalMs: 50 });
    writer.append('query', { sql: 'select 1' });
    await new Promise((r) => setTimeout(r, 200));
    expect(readFileSync(writer.path, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    await writer.close();
  });

  it('a-cut-last-line-from-a-crash-is-dropped-and-flagged', async () => {
    const store = new DbTranscriptStore(scratch());
    const { relPath, writer } = await store.open(META);
    writer.append('query', { sql: 'select 1' });
    const { path } = await writer.close();
    appendFileSync(path, '{"t":5,"type":"que');
    const read = await store.read(relPath);
    expect(read.entries).toHaveLength(1);
    expect(read.isTruncated).toBe(true);
  });

  it('malformed-files-name-the-line', async () => {
    const dir = scratch();
    const path = join(dir, 'x.db.ndjson');
    appendFileSync(path, '{"format":"other"}\n');
    await expect(readDbTranscript(path)).rejects.toMatchObject({
      code: 'GH_RECORDING_INVALID',
      detail: expect.stringMatching(/^line 1/),
    });
  });

  it('paths-outside-the-pattern-and-symlinks-are-refused', async () => {
    const dir = scratch();
    const store = new DbTranscriptStore(dir);
    expect(() => store.resolve('../etc/passwd')).toThrow();
    expect(() => store.resolve('2025/01/02/x.cast')).toThrow();
    const { writer } = await store.open(META);
    const { path } = await writer.close();
    const link = join(dir, 'link.db.ndjson');
    symlinkSync(path, link);
    await expect(readDbTranscript(link)).rejects.toSatisfy((e: unknown) =>
      isGatehouseError(e, 'GH_INVALID_ARGUMENT'),
    );
  });

  it('a-failing-disk-fails-the-writer-once-and-close-rejects', async () => {
    const errors: unknown[] = [];
    let writes = 0;
    const sink: RecordingSink = {
      path: '/virtual',
      write: () =>
        ++writes > 1
          ? Promise.reject(Object.assign(new Error('no space'), { code: 'ENOSPC' }))
          : Promise.resolve(),
      sync: () => Promise.resolve(),
      requestSync: () => undefined,
      close: () => Promise.resolve(),
    };
    const writer = await DbTranscriptWriter.create('/virtual', META, {
      openSink: () => Promise.resolve(sink),
      flushThresholdBytes: 1,
      onError: (e) => errors.push(e),
    });
    writer.append('query', { sql: 'select 1' });
    await expect(writer.close()).rejects.toMatchObject({ code: 'GH_RECORDING_FAILED' });
    expect(errors).toHaveLength(1);
    expect(writer.append('query', {})).toBe(false);
  });

  it('ignoring-backpressure-far-past-the-limit-fails-instead-of-growing', async () => {
    let writes = 0;
    const sink: RecordingSink = {
      path: '/virtual',
      // The header goes through; then the disk hangs.
      write: () => (++writes === 1 ? Promise.resolve() : new Promise<void>(() => undefined)),
      sync: () => Promise.resolve(),
      requestSync: () => undefined,
      close: () => Promise.resolve(),
    };
    const errors: unknown[] = [];
    const writer = await DbTranscriptWriter.create('/virtual', META, {
      openSink: () => Promise.resolve(sink),
      maxBufferedBytes: 1000,
      flushThresholdBytes: 100,
      onError: (e) => errors.push(e),
    });
    let accepted = 0;
    while (writer.append('query', { sql: 'x'.repeat(100) })) accepted += 1;
    expect(writer.needsDrain).toBe(true);
    for (let i = 0; i < 100 && writer.failure === undefined; i++)
      writer.append('query', { sql: 'x'.repeat(100) });
    expect(writer.failure?.code).toBe('GH_RECORDING_FAILED');
    expect(errors).toHaveLength(1);
    expect(accepted).toBeGreaterThan(0);
  });
});
