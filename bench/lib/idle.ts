import { progress, rssKiB, sleep } from './processes.js';
import type { Workload } from './results.js';

/** Connections opened at once while filling up (a login storm, not a stampede). */
export const OPEN_CONCURRENCY = 8;

/** A path to open idle connections on. */
export interface IdlePath {
  readonly id: string;
  /** The process in the middle, whose memory is measured; none for direct. */
  readonly pid?: () => number;
  /** Opens one connection, ready for use; resolves with how to close it. */
  open(): Promise<() => Promise<void>>;
  /**
   * Restarts the middle process: RSS does not shrink after earlier workloads grew the heap,
   * so growth is only meaningful from a fresh (then warmed-up) process.
   */
  restart?(): Promise<void>;
}

/** `path` (a bench path, with the process in the middle if any) as an {@link IdlePath} whose connections `open` opens. */
export function idlePathOf(
  path: Pick<IdlePath, 'id' | 'pid' | 'restart'>,
  open: () => Promise<() => Promise<void>>,
): IdlePath {
  return {
    id: path.id,
    ...(path.pid === undefined ? {} : { pid: path.pid }),
    ...(path.restart === undefined ? {} : { restart: path.restart }),
    open,
  };
}

/** Connections opened and closed before the baseline, so lazily loaded code is in already. */
const WARM_UP_CONNECTIONS = 4;

/**
 * Opens `count` connections on each path (`OPEN_CONCURRENCY` at a time), and gives the middle
 * process's resident memory per connection (RSS growth / count, after `settleMs` of quiet; from
 * a restarted, warmed-up process where the path can restart it) and the rate of opening. Paths
 * run one after the other; each closes its connections before the next.
 */
export async function measureIdleConnections(options: {
  readonly prefix: string;
  readonly what: string;
  readonly count: number;
  readonly paths: readonly IdlePath[];
  readonly settleMs: number;
}): Promise<Workload[]> {
  const { count, settleMs } = options;
  const memory: Record<string, number[]> = {};
  const rate: Record<string, number[]> = {};
  for (const path of options.paths) {
    if (path.restart !== undefined) {
      await path.restart();
      const warm = await openMany(path, WARM_UP_CONNECTIONS);
      await Promise.all(warm.map((close) => close().catch(() => undefined)));
      await sleep(settleMs);
    }
    const before = path.pid === undefined ? Number.NaN : rssKiB(path.pid());
    const started = performance.now();
    let closers: (() => Promise<void>)[];
    try {
      closers = await openMany(path, count);
    } catch (err) {
      // One path failing (a reference's own limit) must not lose the rest of the run.
      progress(
        `${options.prefix}.idle ${count} ${path.id}: failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      await sleep(settleMs);
      continue;
    }
    const perSecond = count / ((performance.now() - started) / 1000);
    await sleep(settleMs);
    const after = path.pid === undefined ? Number.NaN : rssKiB(path.pid());
    progress(
      `${options.prefix}.idle ${count} ${path.id}: ${perSecond.toFixed(1)}/s, RSS ${Math.round(before / 1024)} → ${Math.round(after / 1024)} MiB`,
    );
    rate[path.id] = [perSecond];
    if (path.pid !== undefined) memory[path.id] = [(after - before) / count];
    await Promise.all(closers.map((close) => close().catch(() => undefined)));
    await sleep(settleMs);
  }
  return [
    {
      id: `${options.prefix}.idle-memory-${count}`,
      title: `${options.what}: ${count} idle, RSS per connection`,
      unit: 'KiB',
      better: 'lower',
      compare: 'ratio',
      samples: memory,
      note: 'growth of the middle process’s RSS while the connections sit idle, divided by their number',
    },
    {
      id: `${options.prefix}.open-rate-${count}`,
      title: `${options.what}: opening ${count}, ${OPEN_CONCURRENCY} at a time`,
      unit: '/s',
      better: 'higher',
      compare: 'ratio',
      samples: rate,
    },
  ];
}

async function openMany(path: IdlePath, count: number): Promise<(() => Promise<void>)[]> {
  const closers: (() => Promise<void>)[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      closers.push(await path.open());
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
  } catch (err) {
    await Promise.all(closers.map((close) => close().catch(() => undefined)));
    throw new Error(`${path.id}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return closers;
}
