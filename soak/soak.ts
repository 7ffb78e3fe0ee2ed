import { loadavg } from 'node:os';
import { cpuTimeMs, rssKiB, sleep } from '../bench/lib/processes.js';
import { lastAuditSeq } from '../test/support/gatehouse-store.js';
import { checkAudit, waitForQuietAudit, type AuditCheck } from './audit-check.js';
import { mysqlWorker, pgWorker, type DbWrites } from './db-load.js';
import type { ProcessMemory } from './inspector.js';
import type { SoakOptions } from './options.js';
import { progress } from './progress.js';
import { realMariadbWorker, realPsqlWorker, realSshWorker } from './real-clients.js';
import { sshSessionWorker, type LoadWorker } from './ssh-load.js';
import { Tally, type OperationCount } from './tally.js';
import { startSoakWorld, type SoakWorld } from './world.js';

/** Gatehouse's memory at one moment: RSS from /proc, heap figures from inside after a full GC. */
export interface MemoryPoint {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
}

/** Everything a soak run measured and checked. */
export interface SoakResult {
  readonly options: SoakOptions;
  readonly startedAt: string;
  readonly loadAverage: { readonly before: readonly number[]; readonly after: readonly number[] };
  /** Sessions by kind: how many were asked for and how many opened. */
  readonly sessions: Readonly<
    Record<string, { readonly planned: number; readonly opened: number }>
  >;
  /** Opening rates while ramping up (sessions per second, per protocol). */
  readonly openRates: Readonly<Record<string, number>>;
  /** Seconds: ramp-up, full-load phase, closing. */
  readonly phases: { readonly rampS: number; readonly loadS: number; readonly closeS: number };
  /**
   * CPU time Gatehouse used (user + system, from /proc): while opening the sessions (idle
   * otherwise) and per session opened; during the load and per operation. Unlike rates, these
   * hardly depend on how busy the machine is.
   */
  readonly gatehouseCpu: {
    readonly rampS: number;
    readonly perOpenMs: number;
    readonly loadS: number;
    readonly perOperationMs: number;
  };
  readonly operations: Readonly<Record<string, OperationCount>>;
  readonly totals: {
    readonly attempted: number;
    readonly succeeded: number;
    readonly failed: number;
  };
  readonly failures: readonly { readonly operation: string; readonly message: string }[];
  readonly audit: AuditCheck;
  readonly verify: { readonly ok: boolean; readonly output: string };
  /** Rows the clients committed against what the upstream tables hold. */
  readonly data: Readonly<
    Record<string, { readonly expected: DbWrites; readonly found: DbWrites }>
  >;
  readonly memory: {
    /** After start-up, before anything. */
    readonly start: MemoryPoint;
    /** After the warm-up sessions closed, a settle and a GC: the baseline. */
    readonly warm: MemoryPoint;
    /** With every session open, before the load (no GC). */
    readonly openRssMiB: number;
    /** Highest RSS sampled during the ramp-up and the load (no GC). */
    readonly peakRssMiB: number;
    /** After every session closed, a settle and a GC. */
    readonly end: MemoryPoint;
    /** Share of the load's RSS growth (peak − warm) given back by the end. */
    readonly rssReleasedShare: number;
  };
  /** Every check that failed; empty means the soak passed. */
  readonly problems: readonly string[];
}

/** Real OpenSSH / psql / mariadb clients in the mix: a few, never more than a tenth. */
function realCount(total: number, most: number): number {
  return Math.min(most, Math.floor(total / 10));
}

/**
 * Runs the soak of issue #8: `ssh` SSH sessions and `db` database connections (half
 * PostgreSQL, half MySQL) through one `gatehouse serve`, opened `openConcurrency` at a time
 * per protocol, all working for `durationS` once open; then closes them and checks that every
 * operation succeeded, that the audit chain holds exactly the events the operations imply and
 * verifies, that the upstream tables hold exactly what was committed, and how far Gatehouse's
 * memory went back down.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const startedAt = new Date();
  const loadBefore = loadavg();
  // Not `await using`: Vite's module runner (bench/launch.mjs) leaves it to Node 20, which lacks it.
  const world = await startSoakWorld({ db: options.db, cpuProfDir: options.cpuProfDir });
  try {
    return await soakIn(world, options, { startedAt, loadBefore });
  } finally {
    await world[Symbol.asyncDispose]();
  }
}

async function soakIn(
  world: SoakWorld,
  options: SoakOptions,
  { startedAt, loadBefore }: { startedAt: Date; loadBefore: number[] },
): Promise<SoakResult> {
  const pid = world.gatehouse.pid;
  const start = await measureMemory(world, pid);

  progress('warm-up: a few sessions of each kind, then a settle and a GC');
  await warmUp(world, options);
  await waitForQuietAudit(world.gatehouse);
  await sleep(options.settleMs);
  const warm = await measureMemory(world, pid);
  const afterSeq = lastAuditSeq(world.gatehouse);
  progress(`baseline: RSS ${warm.rssMiB} MiB, heap ${warm.heapUsedMiB} MiB, audit seq ${afterSeq}`);

  const tally = new Tally();
  const writes: { pg: DbWrites; mysql: DbWrites } = {
    pg: { rows: 0, touched: 0 },
    mysql: { rows: 0, touched: 0 },
  };
  const plan = planWorkers(world, tally, options, writes);
  let peakRss = rssKiB(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(pid))), 1_000);

  // Ramp-up: open every session (each protocol `openConcurrency` at a time), idle; then all
  // work at once. Opening while the others work would slow both and mix their costs.
  const rampStarted = performance.now();
  const cpuAtRamp = cpuTimeMs(pid);
  const ready: LoadWorker[] = [];
  const opened: Record<string, number> = {};
  const openRates: Record<string, number> = {};
  const openGroup = async (group: string, workers: readonly LoadWorker[]): Promise<void> => {
    const began = performance.now();
    let next = 0;
    let count = 0;
    const opener = async (): Promise<void> => {
      for (let i = next++; i < workers.length; i = next++) {
        const worker = workers[i];
        if (worker === undefined || !(await worker.open())) continue;
        count += 1;
        ready.push(worker);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(options.openConcurrency, workers.length) }, opener),
    );
    opened[group] = count;
    openRates[group] = round(count / ((performance.now() - began) / 1000), 1);
    progress(`${group}: ${count}/${workers.length} open, ${openRates[group]}/s`);
  };
  progress(
    `ramp-up: ${options.ssh} SSH, ${options.db} database sessions, ${options.openConcurrency} at a time per protocol`,
  );
  const ticker = setInterval(() => {
    const t = tally.totals();
    progress(
      `${ready.length} sessions open; ${t.succeeded} operations ok, ${t.failed} failed; RSS ${Math.round(rssKiB(pid) / 1024)} MiB`,
    );
  }, 15_000);
  await Promise.all([...plan.groups].map(([group, workers]) => openGroup(group, workers)));
  const rampS = (performance.now() - rampStarted) / 1000;
  const cpuRampMs = cpuTimeMs(pid) - cpuAtRamp;
  const openRssMiB = Math.round(rssKiB(pid) / 1024);
  progress(
    `${ready.length} open after ${rampS.toFixed(1)} s (RSS ${openRssMiB} MiB); load for ${options.durationS} s`,
  );

  const loadStarted = performance.now();
  const cpuAtLoad = cpuTimeMs(pid);
  const stopAt = Date.now() + options.durationS * 1000;
  // Loops end at stopAt after their current round, and close their session.
  await Promise.all(
    ready.map((worker) => loop(worker, () => Date.now() >= stopAt, options.pauseMs)),
  );
  clearInterval(ticker);
  clearInterval(sampler);
  const loadS = (performance.now() - loadStarted) / 1000;
  const cpuLoadMs = cpuTimeMs(pid) - cpuAtLoad;
  progress('all sessions closed by their clients; waiting for the audit chain to settle');
  const closeStarted = performance.now();
  await waitForQuietAudit(world.gatehouse);
  const closeS = (performance.now() - closeStarted) / 1000;
  await sleep(options.settleMs);
  const end = await measureMemory(world, pid);
  progress(
    `end: RSS ${end.rssMiB} MiB, heap ${end.heapUsedMiB} MiB (peak RSS ${Math.round(peakRss / 1024)} MiB)`,
  );

  const audit = checkAudit(world.gatehouse, afterSeq, tally.expectedEvents);
  progress(`audit: ${audit.lastSeq - afterSeq} events; running gatehouse audit verify`);
  const verifyRun = await world.gatehouse.tryCli(['audit', 'verify']);
  const verify = {
    ok: verifyRun.code === 0,
    output: `${verifyRun.stdout}${verifyRun.stderr}`.trim().slice(0, 2000),
  };
  const data = {
    pg: { expected: writes.pg, found: await pgFound(world) },
    mysql: { expected: writes.mysql, found: await mysqlFound(world) },
  };

  const totals = tally.totals();
  const problems: string[] = [];
  if (totals.failed > 0 || totals.attempted !== totals.succeeded)
    problems.push(`${totals.failed} of ${totals.attempted} operations failed`);
  for (const [group, workers] of plan.groups)
    if ((opened[group] ?? 0) !== workers.length)
      problems.push(`${group}: ${opened[group] ?? 0} of ${workers.length} sessions opened`);
  problems.push(...audit.problems.map((p) => `audit: ${p}`));
  if (!verify.ok) problems.push(`audit verify failed: ${verify.output}`);
  for (const [db, d] of Object.entries(data)) {
    const unsure = d.expected.unsure ?? { rows: 0, touched: 0 };
    const isWithin = (key: 'rows' | 'touched'): boolean =>
      d.found[key] >= d.expected[key] && d.found[key] <= d.expected[key] + unsure[key];
    if (!isWithin('rows') || !isWithin('touched'))
      problems.push(
        `${db}: committed ${d.expected.rows} rows / ${d.expected.touched} updates (and up to ${unsure.rows} / ${unsure.touched} of failed clients), table holds ${d.found.rows} / ${d.found.touched}`,
      );
  }
  const peakRssMiB = Math.round(peakRss / 1024);
  const grown = peakRssMiB - warm.rssMiB;
  return {
    options,
    startedAt: startedAt.toISOString(),
    loadAverage: { before: loadBefore, after: loadavg() },
    sessions: Object.fromEntries(
      [...plan.groups].map(([group, workers]) => [
        group,
        { planned: workers.length, opened: opened[group] ?? 0 },
      ]),
    ),
    openRates,
    phases: { rampS: round(rampS, 1), loadS: round(loadS, 1), closeS: round(closeS, 1) },
    gatehouseCpu: {
      rampS: round(cpuRampMs / 1000, 1),
      perOpenMs: round(cpuRampMs / Math.max(1, ready.length), 1),
      loadS: round(cpuLoadMs / 1000, 1),
      perOperationMs: round(cpuLoadMs / Math.max(1, totals.succeeded), 2),
    },
    operations: Object.fromEntries(tally.operations),
    totals,
    failures: tally.failures,
    audit,
    verify,
    data,
    memory: {
      start,
      warm,
      openRssMiB,
      peakRssMiB,
      end,
      rssReleasedShare: grown <= 0 ? 1 : round((peakRssMiB - end.rssMiB) / grown, 2),
    },
    problems,
  };
}

/** The workers of the run, by group (each group ramps up on its own). */
function planWorkers(
  world: SoakWorld,
  tally: Tally,
  options: SoakOptions,
  writes: { pg: DbWrites; mysql: DbWrites },
): { groups: Map<string, LoadWorker[]> } {
  const pgCount = Math.ceil(options.db / 2);
  const myCount = options.db - pgCount;
  const realSsh = realCount(options.ssh, 4);
  const realPsql = realCount(pgCount, 3);
  const realMariadb = realCount(myCount, 3);
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const groups = new Map<string, LoadWorker[]>([
    [
      'ssh',
      [
        ...range(options.ssh - realSsh).map((i) => sshSessionWorker(world, tally, i)),
        ...range(realSsh).map((i) => realSshWorker(world, tally, i)),
      ],
    ],
    [
      'postgres',
      [
        ...range(pgCount - realPsql).map((i) => pgWorker(world, tally, i, writes.pg)),
        ...range(realPsql).map((i) => realPsqlWorker(world, tally, i, writes.pg)),
      ],
    ],
    [
      'mysql',
      [
        ...range(myCount - realMariadb).map((i) => mysqlWorker(world, tally, i, writes.mysql)),
        ...range(realMariadb).map((i) => realMariadbWorker(world, tally, i, writes.mysql)),
      ],
    ],
  ]);
  return { groups };
}

/** Rounds of work until `shouldStop`, a pause between rounds, then the close. */
async function loop(worker: LoadWorker, shouldStop: () => boolean, pauseMs: number): Promise<void> {
  for (let round = 1; !shouldStop(); round++) {
    await worker.work(round);
    // Spread the pauses so the sessions do not march in step.
    await sleep(pauseMs * (0.5 + Math.random()));
  }
  await worker.close();
}

/**
 * A few sessions of every kind before the baseline, so lazily loaded code and first-use caches
 * are in already; their events come before the load's and are not counted. Warm-up workers
 * use worker numbers of their own so the load's row counts start from zero.
 */
async function warmUp(world: SoakWorld, options: SoakOptions): Promise<void> {
  const tally = new Tally();
  const scratch = { rows: 0, touched: 0 };
  const workers = [
    sshSessionWorker(world, tally, 900_000),
    sshSessionWorker(world, tally, 900_001),
    pgWorker(world, tally, 900_000, scratch),
    pgWorker(world, tally, 900_001, scratch),
    mysqlWorker(world, tally, 900_000, scratch),
    mysqlWorker(world, tally, 900_001, scratch),
  ];
  await Promise.all(
    workers.map(async (worker) => {
      if (!(await worker.open())) return;
      for (let round = 1; round <= 4; round++) {
        await worker.work(round);
        await sleep(options.pauseMs);
      }
      await worker.close();
    }),
  );
  if (tally.totals().failed > 0)
    throw new Error(
      `the warm-up failed: ${tally.failures.map((f) => `${f.operation}: ${f.message}`).join('; ')}`,
    );
  // The warm-up's rows are not the load's.
  await world.pgDirect('DELETE FROM soak_items');
  await world.mysqlDirect('DELETE FROM soak_items');
}

async function measureMemory(world: SoakWorld, pid: number): Promise<MemoryPoint> {
  await world.inspector.collectGarbage();
  // A second pass frees what the first one's finalizers released.
  await sleep(200);
  await world.inspector.collectGarbage();
  const inside: ProcessMemory = await world.inspector.memoryUsage();
  return {
    rssMiB: Math.round(rssKiB(pid) / 1024),
    heapUsedMiB: round(inside.heapUsed / 2 ** 20, 1),
    externalMiB: round(inside.external / 2 ** 20, 1),
  };
}

async function pgFound(world: SoakWorld): Promise<DbWrites> {
  const rows = await world.pgDirect<{ rows: number; touched: number }>(
    'SELECT count(*)::int AS rows, coalesce(sum(touched), 0)::int AS touched FROM soak_items',
  );
  return { rows: rows[0]?.rows ?? -1, touched: rows[0]?.touched ?? -1 };
}

async function mysqlFound(world: SoakWorld): Promise<DbWrites> {
  const rows = await world.mysqlDirect<{ rows: number; touched: number }>(
    'SELECT COUNT(*) AS `rows`, COALESCE(SUM(touched), 0) AS touched FROM soak_items',
  );
  return { rows: Number(rows[0]?.rows ?? -1), touched: Number(rows[0]?.touched ?? -1) };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
