import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock, MemorySink } from '../../test/support/recording-fixtures.js';
import { BoundedLineSink, openWithHeader } from './bounded-line-sink.js';

const HEADER = Buffer.from('{"header":true}\n', 'utf8');

function lineSink(
  sink: MemorySink,
  clock: ManualClock,
  options: { readonly maxBufferedBytes?: number; readonly onError?: () => void } = {},
): BoundedLineSink<string> {
  return new BoundedLineSink<string>(sink, HEADER, {
    encode: (lines) => Buffer.from(lines.join(''), 'utf8'),
    clock: clock.now,
    flushIntervalMs: 1_000,
    flushThresholdBytes: 1, // every push starts a write
    maxBufferedBytes: options.maxBufferedBytes ?? 1024,
    noun: 'transcript',
    onError: options.onError,
  });
}

describe('bounded line sink', () => {
  it('asks-for-a-paced-sync-at-most-once-per-flush-interval-and-syncs-at-close', async () => {
    const sink = new MemorySink();
    const clock = new ManualClock();
    const lines = lineSink(sink, clock);
    for (let i = 0; i < 5; i++) {
      lines.push(`line-${i}\n`, 7);
      await lines.flush();
    }
    expect(sink.writeCalls).toBe(5);
    expect(sink.syncCalls).toBe(0); // all within the first interval
    clock.advance(1_000);
    lines.push('late\n', 5);
    await lines.flush();
    lines.push('later\n', 6);
    await lines.flush();
    expect(sink.syncCalls).toBe(1);
    const result = await lines.close();
    expect(sink.syncCalls).toBe(2); // close makes it durable
    expect(sink.isClosed).toBe(true);
    const file = Buffer.concat([HEADER, Buffer.from(sink.text(), 'utf8')]);
    expect(result).toEqual({
      path: sink.path,
      sha256: createHash('sha256').update(file).digest('hex'),
      bytes: file.length,
    });
  });

  it('a-slow-disk-asks-for-drain-and-drain-resolves-once-the-writes-catch-up', async () => {
    const sink = new MemorySink();
    const lines = lineSink(sink, new ManualClock(), { maxBufferedBytes: 20 });
    sink.hold();
    let isAccepted = true;
    for (let i = 0; i < 5 && isAccepted; i++) isAccepted = lines.push('0123456789\n', 11);
    expect(isAccepted).toBe(false);
    expect(lines.needsDrain).toBe(true);
    const drained = lines.drain();
    sink.release();
    await drained;
    expect(lines.needsDrain).toBe(false);
    await lines.close();
    expect(sink.text()).toContain('0123456789\n0123456789\n');
  });

  it('a-failed-write-fails-it-once-closed-to-more-lines-and-close-rejects', async () => {
    const sink = new MemorySink();
    sink.failWritesFrom = 2;
    const errors: unknown[] = [];
    const lines = lineSink(sink, new ManualClock(), { onError: () => errors.push('failed') });
    lines.push('ok\n', 3);
    await lines.flush();
    lines.push('lost\n', 5);
    await expect(lines.flush()).rejects.toMatchObject({ code: 'GH_RECORDING_FAILED' });
    expect(lines.failure?.detail).toContain('writing the transcript: ENOSPC');
    expect(lines.push('after\n', 6)).toBe(false);
    await expect(lines.drain()).rejects.toBe(lines.failure);
    await expect(lines.close()).rejects.toBe(lines.failure);
    expect(errors).toEqual(['failed']);
    expect(sink.text()).toBe('ok\n');
    expect(sink.isClosed).toBe(true);
  });

  it('a-header-that-cannot-be-written-closes-the-file-and-names-it', async () => {
    const sink = new MemorySink();
    sink.failWritesFrom = 1;
    await expect(openWithHeader('/x', HEADER, () => Promise.resolve(sink))).rejects.toMatchObject({
      code: 'GH_RECORDING_FAILED',
      detail: expect.stringContaining('/x: writing the header: ENOSPC') as unknown,
    });
    expect(sink.isClosed).toBe(true);
  });
});
