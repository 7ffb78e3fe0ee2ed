import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CastTail } from './live-tail.js';

describe('CastTail', () => {
  it('catches-up-with-zero-intervals-then-follows-new-lines-and-ends-when-the-session-ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-tail-'));
    const path = join(dir, 's-0.cast');
    writeFileSync(
      path,
      '{"version":3,"term":{"cols":80,"rows":24}}\n[0.500, "o", "hello "]\n# comment\n[1.000, "o", "wor',
    );
    const sent: string[] = [];
    let closed: [number, string] | undefined;
    let isLive = true;
    const tail = new CastTail(
      path,
      { send: (l) => sent.push(l), close: (code, reason) => (closed = [code, reason]) },
      { isLive: () => Promise.resolve(isLive) },
    );
    await tail.start();
    expect(sent).toEqual(['{"version":3,"term":{"cols":80,"rows":24}}', '[0,"o","hello "]']);
    appendFileSync(path, 'ld"]\n[0.2, "m", "ls"]\n');
    await new Promise((r) => setTimeout(r, 500));
    expect(sent.slice(2).map((l) => (JSON.parse(l) as unknown[]).slice(1))).toEqual([
      ['o', 'world'],
      ['m', 'ls'],
    ]);
    isLive = false;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(closed).toEqual([1000, 'session ended']);
    await tail.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a-file-that-is-not-asciicast-v3-closes-the-stream-with-an-error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-tail-'));
    const path = join(dir, 's-0.cast');
    writeFileSync(path, '{"version":2,"width":80,"height":24}\n');
    let closed: number | undefined;
    const tail = new CastTail(
      path,
      { send: () => undefined, close: (code) => (closed = code) },
      { isLive: () => Promise.resolve(true) },
    );
    await tail.start();
    expect(closed).toBe(1011);
    rmSync(dir, { recursive: true, force: true });
  });
});
