import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import {
  AsciicastReader,
  AsciicastWriter,
  type AsciicastWriterOptions,
  type RecordingMeta,
} from './index.js';
import {
  ManualClock,
  MemorySink,
  makeRecordingDir,
  mountTinyTmpfs,
  readCastLines,
  sleep,
  type ScratchDir,
} from '../../test/support/recording-fixtures.js';

const META: RecordingMeta = {
  sid: 'ses_0123abcd',
  channel: 2,
  user: 'alice',
  target: 'web1',
  term: { cols: 120, rows: 40, type: 'xterm-256color' },
  title: 'alice@web1',
};
const T0_MS = Date.UTC(2025, 4, 6, 7, 8, 9, 500);

let scratch: ScratchDir | undefined;
afterEach(() => {
  scratch?.cleanup();
  scratch = undefined;
});

function scratchDir(): string {
  scratch = makeRecordingDir();
  return scratch.path;
}

async function readBack(path: string): Promise<{ header: unknown; events: unknown[] }> {
  await using reader = await AsciicastReader.open(path);
  const events: unknown[] = [];
  for await (const e of reader.events()) events.push(e);
  return { header: reader.header, events };
}

function memoryWriter(
  sink: MemorySink,
  options: AsciicastWriterOptions = {},
): Promise<AsciicastWriter> {
  return AsciicastWriter.create('/memory', META, {
    openSink: () => Promise.resolve(sink),
    ...options,
  });
}

describe('asciicast writer', () => {
  it('recording-written-is-read-back-identically-with-absolute-times', async () => {
    const clock = new ManualClock();
    const writer = await AsciicastWriter.create(scratchDir(), META, {
      clock: clock.now,
      wallClock: () => T0_MS,
    });
    clock.advance(250);
    writer.output(Buffer.from('$ '));
    clock.advance(1000);
    writer.input(Buffer.from('l'));
    clock.advance(4);
    writer.output(Buffer.from('l')); // echo: input kept as typed
    clock.advance(1);
    writer.resize(100, 30);
    clock.advance(1500);
    writer.marker('deploy');
    clock.advance(1234);
    writer.exit(0);
    const result = await writer.close();

    const { header, events } = await readBack(result.path);
    expect(header).toEqual({
      version: 3,
      term: { cols: 120, rows: 40, type: 'xterm-256color' },
      timestamp: Math.floor(T0_MS / 1000),
      title: 'alice@web1',
      gatehouse: { sid: 'ses_0123abcd', user: 'alice', target: 'web1', channel: 2 },
    });
    expect(events).toEqual([
      { time: 0.25, code: 'o', data: '$ ' },
      { time: 1.25, code: 'i', data: 'l' },
      { time: 1.254, code: 'o', data: 'l' },
      { time: 1.255, code: 'r', data: '100x30' },
      { time: 2.755, code: 'm', data: 'deploy' },
      { time: 3.989, code: 'x', data: '0' },
    ]);
  });

  it('file-is-valid-asciicast-v3-with-relative-non-negative-intervals', async () => {
    const clock = new ManualClock();
    const writer = await AsciicastWriter.create(scratchDir(), META, {
      clock: clock.now,
      wallClock: () => T0_MS,
    });
    const steps = [0, 7, 1000, 3, 0, 2500];
    for (const [i, step] of steps.entries()) {
      clock.advance(step);
      writer.output(Buffer.from(`chunk ${i}\r\n\u0007\u007f\u009b`));
    }
    const { path } = await writer.close();

    expect(path).toBe(join(scratch?.path ?? '', 'ses_0123abcd-2.cast'));
    expect(statSync(path).mode & 0o777).toBe(0o640);
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const [header, ...events] = readCastLines(path);
    expect(header).toMatchObject({
      version: 3,
      term: { cols: 120, rows: 40, type: 'xterm-256color' },
    });
    expect(Number.isInteger((header as { timestamp: unknown }).timestamp)).toBe(true);
    expect(events).toHaveLength(steps.length);
    for (const [i, event] of events.entries()) {
      expect(Array.isArray(event) && event.length === 3).toBe(true);
      const [interval, code, data] = event as [number, string, string];
      expect(interval).toBeGreaterThanOrEqual(0);
      expect(interval).toBeCloseTo((steps[i] ?? -1) / 1000, 6); // relative, not absolute
      expect(code).toBe('o');
      expect(data).toBe(`chunk ${i}\r\n\u0007\u007f\u009b`);
    }
    // DEL and C1 controls are escaped as \uXXXX, as the spec asks of non-printables
    expect(text).toContain('\\u007f\\u009b');
    expect(text).not.toMatch(/[\u007f-\u009f]/);
  });

  it('multibyte-utf8-split-across-chunks-survives', async () => {
    const writer = await AsciicastWriter.create(scratchDir(), META, { recordInput: false });
    const bytes = Buffer.from('é€😀 done', 'utf8');
    // é = 2 bytes, € = 3, 😀 = 4: cut inside every one of them
    for (const [from, to] of [
      [0, 1],
      [1, 3],
      [3, 4],
      [4, 6],
      [6, 7],
      [7, 8],
      [8, bytes.length],
    ] as const) {
      writer.output(bytes.subarray(from, to));
    }
    writer.output(Buffer.from([0xe2, 0x82])); // cut off at the end: replaced, not lost silently
    const { path } = await writer.close();
    const { events } = await readBack(path);
    const text = events.map((e) => (e as { data: string }).data).join('');
    expect(text).toBe('é€😀 done\ufffd');
  });

  it('events-reach-the-file-within-a-second-without-close', async () => {
    const writer = await AsciicastWriter.create(scratchDir(), META);
    writer.output(Buffer.from('before the timer'));
    expect(readCastLines(writer.path)).toHaveLength(1); // only the header so far
    await sleep(1_300);
    const lines = readCastLines(writer.path);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual([expect.any(Number), 'o', 'before the timer']);
    await writer.close();
  });

  it('large-output-is-written-before-the-timer-past-the-threshold', async () => {
    const sink = new MemorySink();
    const writer = await memoryWriter(sink, { flushThresholdBytes: 1024 });
    writer.output(Buffer.alloc(2000, 'a'));
    await sleep(20);
    expect(sink.text()).toContain('a'.repeat(2000));
    await writer.close();
  });

  it('sha256-and-size-reported-by-close-match-the-file', async () => {
    const writer = await AsciicastWriter.create(scratchDir(), META);
    for (let i = 0; i < 500; i += 1)
      writer.output(Buffer.from(`row ${i} ${'x'.repeat(i % 50)}\r\n`));
    const result = await writer.close();
    const bytes = readFileSync(result.path);
    expect(result.bytes).toBe(bytes.length);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(await writer.close()).toBe(result); // idempotent
  });

  it('output-past-max-output-bytes-is-counted-and-marked-not-recorded', async () => {
    const writer = await AsciicastWriter.create(scratchDir(), META, { maxOutputBytes: 10 });
    writer.output(Buffer.from('12345678'));
    writer.output(Buffer.from('9\u00e9XY')); // crosses the limit: this chunk is still recorded
    writer.output(Buffer.from('not kept'));
    writer.output(Buffer.alloc(1000, 0x41));
    writer.exit(0);
    const result = await writer.close();
    const { events } = await readBack(result.path);
    const data = (code: string): string[] =>
      (events as { code: string; data: string }[])
        .filter((e) => e.code === code)
        .map((e) => e.data);
    expect(data('o').join('')).toBe('123456789\u00e9XY');
    expect(data('m')).toEqual([
      'output past 13 bytes is not recorded',
      'output not recorded: 1008 bytes (1021 in all)',
    ]);
    expect(data('x')).toEqual(['0']);
    expect(readFileSync(result.path, 'utf8')).not.toContain('not kept');
  });

  it('existing-recording-is-never-overwritten', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'ses_0123abcd-2.cast'), 'precious');
    await expect(AsciicastWriter.create(dir, META)).rejects.toMatchObject({
      code: 'GH_ALREADY_EXISTS',
    });
    expect(readFileSync(join(dir, 'ses_0123abcd-2.cast'), 'utf8')).toBe('precious');
  });

  it('bad-tuning-options-are-refused-before-the-file-is-created', async () => {
    const dir = scratchDir();
    await expect(AsciicastWriter.create(dir, META, { flushIntervalMs: 0 })).rejects.toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
    });
    await expect(
      AsciicastWriter.create(dir, META, { echoWindowMs: Number.NaN }),
    ).rejects.toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('session-id-with-path-characters-is-refused', async () => {
    const dir = scratchDir();
    for (const sid of ['../x', 'a/b', '', '.', 'x'.repeat(200), 'a\u0000b']) {
      await expect(AsciicastWriter.create(dir, { ...META, sid })).rejects.toMatchObject({
        code: 'GH_INVALID_ARGUMENT',
      });
    }
  });
});

describe('asciicast writer under disk trouble', () => {
  it('disk-full-is-reported-as-an-error-not-a-crash', async () => {
    const sink = new MemorySink();
    sink.failWritesFrom = 2; // the header lands, the first events do not
    const onError = vi.fn();
    const writer = await memoryWriter(sink, { onError });
    writer.output(Buffer.from('doomed'));
    await expect(writer.flush()).rejects.toSatisfy((err) => isGatehouseError(err));
    expect(onError).toHaveBeenCalledTimes(1);
    const failure = writer.failure;
    expect(failure?.detail).toContain('ENOSPC');
    expect(writer.needsDrain).toBe(true);
    expect(writer.output(Buffer.from('more'))).toBe(false);
    await expect(writer.drain()).rejects.toBe(failure);
    await expect(writer.close()).rejects.toBe(failure);
    expect(sink.isClosed).toBe(true);
    expect(onError).toHaveBeenCalledTimes(1);
  });

  it('a-header-that-cannot-be-written-fails-create-and-nothing-else', async () => {
    const sink = new MemorySink();
    sink.failWritesFrom = 1;
    const onError = vi.fn();
    await expect(memoryWriter(sink, { onError })).rejects.toMatchObject({
      code: 'GH_RECORDING_FAILED',
      detail: expect.stringContaining('ENOSPC') as unknown,
    });
    expect(onError).not.toHaveBeenCalled();
    expect(sink.isClosed).toBe(true);
  });

  it('disk-full-during-a-timer-flush-reaches-on-error-without-an-unhandled-rejection', async () => {
    const sink = new MemorySink();
    sink.failWritesFrom = 2;
    const failures: unknown[] = [];
    const writer = await memoryWriter(sink, {
      flushIntervalMs: 20,
      onError: (err) => failures.push(err),
    });
    writer.output(Buffer.from('x'));
    await sleep(100); // nobody awaits anything: the timer's write fails on its own
    expect(failures).toHaveLength(1);
    await expect(writer.close()).rejects.toBe(failures[0]);
  });

  it('slow-disk-exposes-backpressure-instead-of-dropping-events', async () => {
    const sink = new MemorySink();
    const writer = await memoryWriter(sink, { maxBufferedBytes: 4096, flushThresholdBytes: 1024 });
    sink.hold();
    let accepted = 0;
    let sent = 0;
    while (sent < 1000) {
      sent += 1;
      if (!writer.output(Buffer.from(`event ${sent} ${'y'.repeat(100)}\n`))) break;
      accepted += 1;
    }
    expect(accepted).toBeLessThan(100); // it asked to stop long before 1000
    expect(writer.needsDrain).toBe(true);
    let isDrained = false;
    const draining = writer.drain().then(() => (isDrained = true));
    await sleep(10);
    expect(isDrained).toBe(false);
    sink.release();
    await draining;
    expect(writer.needsDrain).toBe(false);
    const { bytes } = await writer.close();
    const text = sink.text();
    expect(Buffer.byteLength(text)).toBe(bytes);
    for (let i = 1; i <= sent; i += 1) expect(text).toContain(`event ${i} `);
  });

  it('ignoring-backpressure-fails-the-recording-instead-of-growing-memory', async () => {
    const sink = new MemorySink();
    const onError = vi.fn();
    const writer = await memoryWriter(sink, { maxBufferedBytes: 1024, onError });
    sink.hold();
    for (let i = 0; i < 200; i += 1) writer.output(Buffer.alloc(100, 'z'));
    expect(onError).toHaveBeenCalledTimes(1);
    expect(writer.failure?.detail).toContain('backpressure ignored');
    sink.release();
    await expect(writer.close()).rejects.toBe(writer.failure);
  });

  const tinyFs = process.platform === 'linux' && process.getuid?.() === 0;
  it.skipIf(!tinyFs)(
    'real-disk-full-on-a-tiny-tmpfs-is-reported-and-the-file-still-plays',
    async () => {
      const fs = mountTinyTmpfs(64 * 1024);
      if (fs === undefined) return; // mount not permitted here (e.g. in a container)
      try {
        const onError = vi.fn();
        const writer = await AsciicastWriter.create(fs.path, META, {
          onError,
          flushThresholdBytes: 8 * 1024,
        });
        for (let i = 0; i < 400 && writer.failure === undefined; i += 1) {
          writer.output(Buffer.from(`${i}: ${'full '.repeat(60)}\r\n`));
          if (writer.needsDrain) await writer.drain().catch(() => undefined);
          await sleep(0);
        }
        await expect(writer.close()).rejects.toSatisfy((err) => isGatehouseError(err));
        expect(onError).toHaveBeenCalledTimes(1);
        expect(writer.failure?.detail).toContain('ENOSPC');
        // a partial write was taken back: the file ends on a whole line and reads to the end
        const text = readFileSync(writer.path, 'utf8');
        expect(text.endsWith('\n')).toBe(true);
        const reader = await AsciicastReader.open(writer.path);
        let count = 0;
        for await (const event of reader.events()) count += event.code === 'o' ? 1 : 0;
        expect(count).toBeGreaterThan(0);
        expect(reader.isTruncated).toBe(false);
      } finally {
        fs.cleanup();
      }
    },
  );
});
