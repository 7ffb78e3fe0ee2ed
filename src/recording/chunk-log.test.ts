import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkLog } from './chunk-log.js';

interface Chunk {
  readonly atMs: number;
  readonly isInput: boolean;
  readonly bytes: Buffer;
}

function readAll(log: ChunkLog): Chunk[] {
  const chunks: Chunk[] = [];
  log.read((atMs, isInput, bytes) => chunks.push({ atMs, isInput, bytes: Buffer.from(bytes) }));
  return chunks;
}

describe('chunk log', () => {
  it('chunks-come-back-in-order-with-their-time-direction-and-bytes-however-the-buffer-grew', () => {
    const log = new ChunkLog(64 * 1024);
    const logged: Chunk[] = [];
    // From a key to chunks larger than the buffer so far, which grows (and copies) under them.
    for (const [i, size] of [1, 3, 5000, 1, 20_000, 70_000, 2].entries()) {
      const chunk = { atMs: i * 10, isInput: i % 2 === 0, bytes: randomBytes(size) };
      log.add(chunk.atMs, chunk.isInput, chunk.bytes);
      logged.push(chunk);
    }
    expect(log.bytes).toBe(logged.reduce((n, c) => n + c.bytes.length, 0));
    expect(readAll(log)).toEqual(logged);
    expect(log.isEmpty).toBe(true);
    expect(log.bytes).toBe(0);
  });

  it('a-read-log-logs-again-without-its-old-chunks', () => {
    const log = new ChunkLog(8 * 1024);
    log.add(1, true, Buffer.from('a'));
    log.add(2, false, Buffer.from('a'));
    expect(readAll(log)).toHaveLength(2);
    log.add(3, true, Buffer.from('b'));
    expect(readAll(log)).toEqual([{ atMs: 3, isInput: true, bytes: Buffer.from('b') }]);
    expect(readAll(log)).toEqual([]);
  });
});
