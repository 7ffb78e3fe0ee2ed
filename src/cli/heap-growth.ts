import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const MiB = 1024 * 1024;

/** Room the old generation keeps past its live size after a full collection. */
export const HEAP_SLACK_BYTES = 96 * MiB;

/** V8's own bounds for the growth: 1.1× and 4× (on a heap limit like ours). */
const MIN_PERCENT = 10;
const MAX_PERCENT = 300;

/** The V8 flag, in either spelling V8 accepts. */
const GROWING_FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/** `--heap-growing-percent` for an old generation of `liveBytes`: the slack, within V8's bounds, in steps of 10. */
export function growingPercentFor(liveBytes: number): number {
  const percent = Math.ceil((HEAP_SLACK_BYTES / Math.max(liveBytes, 1)) * 10) * 10;
  return Math.min(MAX_PERCENT, Math.max(MIN_PERCENT, percent));
}

/** Bytes in V8's old generation (every space but the young ones), as V8 sizes its limit. */
function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics())
    if (!space.space_name.startsWith('new_')) bytes += space.space_used_size;
  return bytes;
}

/** The growth in effect; dispose to stop following the heap. */
export interface HeapGrowth extends Disposable {
  /** The last `--heap-growing-percent` set. */
  readonly percent: number;
}

/**
 * Keeps {@link HEAP_SLACK_BYTES} of room in V8's old generation after each full collection,
 * for `gatehouse serve` (docs/performance.md, "SSH downloads: the slow mode was a storm of full
 * collections").
 *
 * V8 picks the growth after each full collection from how fast that collection ran against the
 * program, between 1.1× and 4×. Every ArrayBuffer allocated since the last full collection
 * counts against the same limit as the heap, and a relay allocates one for each socket read and
 * each packet: a download turns over up to about 32 MiB of them between two young collections,
 * whatever the heap's size. When V8 had picked a low growth (after start-up's collections, more
 * often than not: 25 MiB of room on a 30 MiB heap), that turnover alone reached the limit, and a
 * download kept the process in back-to-back full collections, ten a second, each setting the
 * same low growth again: three times the CPU per MiB and 0.75 of the bare relay's throughput.
 *
 * The room is set in bytes because the turnover is: a fixed 4× cured the storm as well, but on
 * a heap grown by 700 busy sessions it held 300 MiB more garbage at the peak. After each full
 * collection the growth for the next limit is set from the live old generation (V8 reads the
 * flag whenever it sets a limit). An operator's own `node --heap-growing-percent=N` is kept:
 * then this returns undefined.
 */
export function keepHeapSlack(
  options: {
    readonly execArgv?: readonly string[];
    readonly setFlags?: (flags: string) => void;
    readonly liveBytes?: () => number;
  } = {},
): HeapGrowth | undefined {
  const execArgv = options.execArgv ?? process.execArgv;
  if (execArgv.some((arg) => GROWING_FLAG.test(arg))) return undefined;
  const setFlags = options.setFlags ?? setFlagsFromString;
  const liveBytes = options.liveBytes ?? oldGenerationBytes;
  let percent = 0;
  const follow = (): void => {
    const next = growingPercentFor(liveBytes());
    if (next === percent) return;
    percent = next;
    setFlags(`--heap-growing-percent=${next}`);
  };
  follow();
  const observer = new PerformanceObserver((list) => {
    // A 'gc' entry's detail says which collection it was (Node's typings leave it out).
    const entries = list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[];
    if (entries.some((entry) => entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR))
      follow();
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    get percent() {
      return percent;
    },
    [Symbol.dispose]: () => observer.disconnect(),
  };
}
