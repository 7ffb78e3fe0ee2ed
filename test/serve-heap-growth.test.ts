import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { growingPercentFor, HEAP_SLACK_BYTES, keepHeapSlack } from '../src/cli/heap-growth.js';
import { startGatehouse } from './support/gatehouse.js';

// `gatehouse serve` keeps room in V8's old generation after each full collection
// (src/cli/heap-growth.ts): with too little, the ArrayBuffers a download turns over kept the
// process in back-to-back full collections. Throughput is the benchmark's to show
// (`npm run bench -- --only ssh.download`); these tests show that serve keeps the room, that it
// follows the heap, and that V8 honours a growth set at run time.

const MiB = 1024 * 1024;

/**
 * How far the heap grows past its live size before the next full collection, in a fresh Node
 * that first sets `flags` at run time (as serve does): objects are kept in small steps, with
 * turns of the event loop between them, until a full collection is seen.
 */
async function growthBeforeFullGc(flags: string): Promise<number> {
  const script = `
    import { getHeapStatistics, setFlagsFromString } from 'node:v8';
    import { runInNewContext } from 'node:vm';
    import { PerformanceObserver, constants } from 'node:perf_hooks';
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc');
    setFlagsFromString(${JSON.stringify(flags)});
    const live = [];
    for (let i = 0; i < 200_000; i++) live.push({ i, s: 'x' + i, a: [i] });
    gc();
    gc();
    const base = getHeapStatistics().used_heap_size;
    let fullGcs = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) fullGcs++;
    }).observe({ entryTypes: ['gc'] });
    const kept = [];
    let peak = base;
    while (fullGcs === 0 && peak < base * 8) {
      for (let i = 0; i < 20_000; i++) kept.push({ i, a: [i, i] });
      peak = Math.max(peak, getHeapStatistics().used_heap_size);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    process.stdout.write(String(peak / base) + ' ' + live.length + ' ' + kept.length);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`heap growth probe exited with ${code}: ${err}`);
  return Number(out.split(' ')[0]);
}

describe('serve keeps room in the heap', () => {
  it('the-growth-gives-the-slack-within-v8s-bounds', () => {
    expect(growingPercentFor(24 * MiB)).toBe(300); // 4×: V8's ceiling
    expect(growingPercentFor(64 * MiB)).toBe(150);
    expect(growingPercentFor(200 * MiB)).toBe(50);
    expect(growingPercentFor(4096 * MiB)).toBe(10); // 1.1×: V8's floor
    for (const live of [40, 64, 100, 300, 900].map((n) => n * MiB))
      expect(live * (growingPercentFor(live) / 100)).toBeGreaterThanOrEqual(HEAP_SLACK_BYTES);
  });

  it('follows-the-live-heap-after-each-full-collection-and-keeps-an-operators-own-flag', async () => {
    const set: string[] = [];
    const setFlags = (flags: string): void => void set.push(flags);
    let live = 30 * MiB;
    using growth = keepHeapSlack({ execArgv: [], setFlags, liveBytes: () => live });
    expect(growth?.percent).toBe(300);
    expect(set).toEqual(['--heap-growing-percent=300']);

    // A full collection in this process: the growth is set again from the live size then.
    live = 192 * MiB;
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    for (let i = 0; i < 50 && set.length < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(set).toEqual(['--heap-growing-percent=300', '--heap-growing-percent=50']);
    expect(growth?.percent).toBe(50);

    for (const execArgv of [['--heap-growing-percent=50'], ['--heap_growing_percent', '50']])
      expect(keepHeapSlack({ execArgv, setFlags })).toBeUndefined();
    expect(set).toHaveLength(2);
  });

  it('v8-honours-the-growth-set-at-run-time', async () => {
    // What serve sets on a fresh 30 MiB heap (the flag's spelling is the first test's).
    const serveFlags = `--heap-growing-percent=${growingPercentFor(30 * MiB)}`;
    // A low growth, like the one V8 picked in the slow downloads, brings the next full
    // collection early; serve's lets the heap reach several times its live size first.
    const [low, kept] = await Promise.all([
      growthBeforeFullGc('--heap-growing-percent=20'),
      growthBeforeFullGc(serveFlags),
    ]);
    expect(low).toBeLessThan(2.5);
    expect(kept).toBeGreaterThan(3.2);
  });

  it('gatehouse-serve-runs-with-the-slack', async () => {
    await using gatehouse = await startGatehouse();
    const ready = gatehouse
      .logs()
      .split('\n')
      .find((line) => line.includes('gatehouse control plane ready'));
    expect(ready).toBeDefined();
    expect(JSON.parse(ready ?? '{}')).toMatchObject({ heapSlackMiB: HEAP_SLACK_BYTES / MiB });
  });
});
