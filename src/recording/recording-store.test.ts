import { readFileSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirRecordingStore, type RecordingMeta } from './index.js';
import { makeRecordingDir, type ScratchDir } from '../../test/support/recording-fixtures.js';

const META: RecordingMeta = {
  sid: 'ses_store1',
  channel: 3,
  user: 'bob',
  target: 'db1',
  term: { cols: 80, rows: 24 },
};
const DAY_MS = Date.UTC(2025, 0, 9, 23, 59, 30);

let scratch: ScratchDir | undefined;
afterEach(() => {
  scratch?.cleanup();
  scratch = undefined;
});

function makeStore(): { store: DirRecordingStore; root: string } {
  scratch = makeRecordingDir();
  const root = join(scratch.path, 'recordings');
  return { store: new DirRecordingStore(root, { wallClock: () => DAY_MS }), root };
}

describe('directory recording store', () => {
  it('recording-lands-in-a-dated-directory-with-private-modes', async () => {
    const { store, root } = makeStore();
    const { relPath, writer } = await store.openWriter(META);
    expect(relPath).toBe('2025/01/09/ses_store1-3.cast');
    writer.output(Buffer.from('hi'));
    const result = await writer.close();
    expect(result.path).toBe(join(root, '2025', '01', '09', 'ses_store1-3.cast'));
    for (const dir of ['2025', '2025/01', '2025/01/09'])
      expect(statSync(join(root, dir)).mode & 0o777).toBe(0o750);
    expect(statSync(result.path).mode & 0o777).toBe(0o640);
    expect(await store.exists(relPath)).toBe(true);
    expect(await store.exists('2025/01/09/ses_store1-4.cast')).toBe(false);

    await using reader = await store.openReader(relPath);
    expect(reader.header.gatehouse).toEqual({
      sid: 'ses_store1',
      user: 'bob',
      target: 'db1',
      channel: 3,
    });
    const events = [];
    for await (const e of reader.events()) events.push(e.data);
    expect(events).toEqual(['hi']);

    const chunks: Buffer[] = [];
    for await (const chunk of await store.exportCast(relPath)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(readFileSync(result.path))).toBe(true);
  });

  it.each([
    '../../etc/passwd',
    '/etc/passwd',
    '2025/01/09/../../../x-1.cast',
    '2025/01/09/ses_store1-3.cast/..',
    '2025\\01\\09\\ses_store1-3.cast',
    '2025/01/09/ses store-3.cast',
    '2025/01/09/ses_store1-3.cast\u0000',
    '2025/01/09/ses_store1-3.txt',
    '..%2f..%2fetc%2fpasswd',
    '2025/1/9/ses_store1-3.cast',
    '',
  ])('path-from-outside-is-refused-unless-it-is-exactly-a-recording-path %#', async (relPath) => {
    const { store } = makeStore();
    await expect(store.openReader(relPath)).rejects.toMatchObject({ code: 'GH_INVALID_ARGUMENT' });
    await expect(store.exists(relPath)).rejects.toMatchObject({ code: 'GH_INVALID_ARGUMENT' });
    await expect(store.exportCast(relPath)).rejects.toMatchObject({ code: 'GH_INVALID_ARGUMENT' });
  });

  it('session-id-from-outside-cannot-escape-the-store', async () => {
    const { store } = makeStore();
    await expect(store.openWriter({ ...META, sid: '../../escape' })).rejects.toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
    });
    await expect(store.openWriter({ ...META, channel: -1 })).rejects.toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
    });
  });

  it('a-symlink-planted-as-a-recording-is-not-followed', async () => {
    const { store, root } = makeStore();
    const outside = join(scratch?.path ?? '', 'outside.cast');
    writeFileSync(outside, '{"version":3,"term":{"cols":80,"rows":24}}\n');
    mkdirSync(join(root, '2025', '01', '09'), { recursive: true });
    symlinkSync(outside, join(root, '2025', '01', '09', 'ses_store1-3.cast'));
    await expect(store.openReader('2025/01/09/ses_store1-3.cast')).rejects.toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
    });
    expect(await store.exists('2025/01/09/ses_store1-3.cast')).toBe(false);
    // and the writer refuses to write through it
    await expect(store.openWriter(META)).rejects.toMatchObject({ code: 'GH_ALREADY_EXISTS' });
    expect(readFileSync(outside, 'utf8')).toBe('{"version":3,"term":{"cols":80,"rows":24}}\n');
  });

  it('a-missing-recording-is-not-found', async () => {
    const { store } = makeStore();
    await expect(store.openReader('2025/01/09/ses_none-0.cast')).rejects.toMatchObject({
      code: 'GH_NOT_FOUND',
    });
  });
});
