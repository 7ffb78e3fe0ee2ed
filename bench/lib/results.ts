import { progress } from './processes.js';

/** Paths a workload can take from the client to the target, and how the report names them. */
export const PATH_LABELS: Readonly<Record<string, string>> = {
  direct: 'direct',
  'bare-relay': 'bare relay',
  gatehouse: 'Gatehouse',
  'gatehouse-norec': 'Gatehouse, recording off',
  'gatehouse-stock': 'Gatehouse, stock ssh2',
  'gatehouse-stock-norec': 'Gatehouse, stock ssh2, recording off',
  'gatehouse-base': 'Gatehouse, base build (--base)',
  'gatehouse-base-norec': 'Gatehouse, base build (--base), recording off',
  pgbouncer: 'pgbouncer',
};

/** How a path is compared with the direct connection. */
export type Comparison = 'ratio' | 'difference';

/** One workload measured on several paths in the same run. */
export interface Workload {
  /** Stable id, e.g. `ssh.upload`. */
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** `ratio`: path / direct; `difference`: path − direct (latency added by a hop). */
  readonly compare: Comparison;
  /** Per path, one value per round, in round order (so rounds pair up across paths). */
  readonly samples: Record<string, number[]>;
  /** Per path, every single observation when a round's value aggregates several (for p95). */
  readonly observations?: Record<string, number[]>;
  readonly note?: string;
}

/** A workload that could not run, and why. */
export interface SkippedWorkload {
  readonly id: string;
  readonly reason: string;
}

/**
 * Measures each path once per round, alternating the order (A B C, C B A, A B C …) so that a
 * path is not always measured right after the same neighbour, and a drift of the machine over
 * the run touches every path alike.
 */
export async function alternate(
  paths: readonly string[],
  rounds: number,
  measure: (path: string, round: number) => Promise<number>,
  what: string,
): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = Object.fromEntries(paths.map((p) => [p, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? paths : [...paths].reverse();
    for (const path of order) {
      const value = await measure(path, round);
      samples[path]?.push(value);
    }
    progress(
      `${what}: round ${round + 1}/${rounds} ${paths.map((p) => `${p}=${format(samples[p]?.at(-1))}`).join(' ')}`,
    );
  }
  return samples;
}

function format(value: number | undefined): string {
  return value === undefined ? '-' : value.toPrecision(3);
}
