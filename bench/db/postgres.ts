import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { addDbTarget } from '../../test/support/db-target.js';
import type { RunningGatehouse } from '../../test/support/gatehouse.js';
import { restartGatehouse } from './restart.js';
import { findPgBinDir, startPgCluster } from '../../test/support/pg-cluster.js';
import { Cleanup } from '../lib/cleanup.js';
import type { CpuSplit } from '../lib/cpu-split.js';
import { idlePathOf, measureIdleConnections } from '../lib/idle.js';
import type { BenchSizes } from '../lib/options.js';
import { cpuTimeMs, runTimed } from '../lib/processes.js';
import { startBareRelay } from '../lib/relay-process.js';
import { alternate, type Workload } from '../lib/results.js';
import { startPgbouncer } from './pgbouncer.js';

const LEASED_ROLE = 'bench_leased';
const DATABASE = 'bench';
const TARGET = 'bench-pg';

/** How pgbench reaches PostgreSQL on one path. */
interface PgPath {
  readonly id: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Gatehouse requires TLS from clients; the others speak plain TCP. */
  readonly sslmode: 'disable' | 'require';
  readonly pid?: () => number;
  readonly restart?: () => Promise<void>;
}

/** What the PostgreSQL workloads measure. */
export interface PgWhich {
  readonly pgbench: boolean;
  readonly connect: boolean;
  readonly idle: boolean;
}

/**
 * pgbench -S (simple and prepared) and new connections per second, direct, through the bare
 * relay, pgbouncer (session mode) and Gatehouse; and idle connections' memory. A throwaway
 * SCRAM-only cluster; Gatehouse holds the leased role's password, alice logs in with her own.
 */
export async function runPostgresBench(
  gatehouse: RunningGatehouse,
  alice: { name: string; password: string },
  sizes: BenchSizes,
  which: PgWhich,
  /** Path ids to run (`--paths`); default all but gatehouse-plain. */
  pathIds: readonly string[] = [],
  split: CpuSplit,
): Promise<Workload[]> {
  const cleanup = new Cleanup();
  try {
    const cluster = cleanup.use(
      await startPgCluster({
        superPassword: randomBytes(12).toString('hex'),
        settings: { max_connections: '2200' },
      }),
    );
    const leasedPassword = randomBytes(12).toString('hex');
    const superClient = new pg.Client({ connectionString: cluster.url });
    await superClient.connect();
    await superClient.query(`CREATE ROLE ${LEASED_ROLE} LOGIN PASSWORD '${leasedPassword}'`);
    await superClient.query(`CREATE DATABASE ${DATABASE} OWNER ${LEASED_ROLE}`);
    await superClient.end();
    const bin = findPgBinDir();
    const direct: PgPath = {
      id: 'direct',
      port: cluster.port,
      user: LEASED_ROLE,
      password: leasedPassword,
      sslmode: 'disable',
    };
    await runTimed(join(bin, 'pgbench'), ['-i', '-q', '-s', '1', DATABASE], { env: pgEnv(direct) });

    await addDbTarget(
      gatehouse,
      {
        name: TARGET,
        kind: 'postgres',
        host: cluster.host,
        port: cluster.port,
        username: LEASED_ROLE,
        password: leasedPassword,
        database: DATABASE,
      },
      { grantTo: alice.name, grantFor: '24h' },
    );

    const relay = cleanup.use(await startBareRelay({ host: cluster.host, port: cluster.port }));
    const bouncer = cleanup.use(
      await startPgbouncer({
        host: cluster.host,
        port: cluster.port,
        database: DATABASE,
        user: LEASED_ROLE,
        password: leasedPassword,
      }),
    );
    const gatehousePath: PgPath = {
      id: 'gatehouse',
      port: gatehouse.pgPort,
      user: `${alice.name}#${TARGET}`,
      password: alice.password,
      sslmode: 'require',
      pid: () => gatehouse.pid,
      restart: () => restartGatehouse(gatehouse),
    };
    const allPaths: PgPath[] = [
      direct,
      { ...direct, id: 'bare-relay', port: relay.port, pid: () => relay.pid },
      { ...direct, id: 'pgbouncer', port: bouncer.port, pid: () => bouncer.pid },
      gatehousePath,
      // The same Gatehouse without TLS from the client (postgres.allowPlaintext): the TLS share.
      { ...gatehousePath, id: 'gatehouse-plain', sslmode: 'disable' },
    ];
    const paths = allPaths.filter((p) =>
      pathIds.length === 0 ? p.id !== 'gatehouse-plain' : pathIds.includes(p.id),
    );
    const ids = paths.map((p) => p.id);
    const byId = new Map(allPaths.map((p) => [p.id, p]));
    const pathOf = (id: string): PgPath => byId.get(id) ?? direct;
    // CPU of the process in the middle per transaction (logins included), per path id.
    let cpu: Record<string, number[]> = {};
    const pgbench = async (id: string, args: readonly string[]): Promise<number> => {
      const pid = pathOf(id).pid?.();
      split.middle(pid);
      const cpuBefore = pid === undefined ? Number.NaN : cpuTimeMs(pid);
      const run = await runTimed(
        join(bin, 'pgbench'),
        ['-n', ...args, '-T', String(sizes.dbSeconds), DATABASE],
        { env: pgEnv(pathOf(id)), timeoutMs: (sizes.dbSeconds + 60) * 1000 },
      );
      const tps = /tps = ([\d.]+)/.exec(run.stdoutHead)?.[1];
      const done = Number(/actually processed: (\d+)/.exec(run.stdoutHead)?.[1] ?? Number.NaN);
      // No transaction at all: the logins took the whole run (a loaded machine), a rate of 0.
      if (done === 0) return 0;
      if (tps === undefined) throw new Error(`${id}: no tps in pgbench output: ${run.stdoutHead}`);
      if (pid !== undefined && done > 0)
        (cpu[id] ??= []).push(((cpuTimeMs(pid) - cpuBefore) * 1000) / done);
      return Number(tps);
    };

    // A fresh Gatehouse's first logins and statements run cold (lazy imports, JIT): one
    // discarded run through it first, so the rounds compare steady states.
    await pgbench('gatehouse', ['-S', '-c', '2', '-j', '2']);
    const out: Workload[] = [];
    const note =
      'Gatehouse: TLS from the client (required), SCRAM for alice, audit and transcript; the other paths plain TCP';
    if (which.pgbench) {
      for (const mode of ['simple', 'prepared'] as const) {
        for (const clients of sizes.dbClients) {
          cpu = {};
          const args = [
            '-S',
            '-M',
            mode,
            '-c',
            String(clients),
            '-j',
            String(Math.min(clients, 2)),
          ];
          const samples = await alternate(
            ids,
            sizes.dbRounds,
            (id) => pgbench(id, args),
            `pg.pgbench-${mode}-${clients}`,
          );
          out.push({
            id: `pg.pgbench-${mode}-${clients}`,
            title: `pgbench -S ${mode}, ${clients} client${clients === 1 ? '' : 's'}`,
            unit: 'tps',
            better: 'higher',
            compare: 'ratio',
            samples,
            note,
          });
          out.push(
            cpuWorkload(
              `pg.pgbench-${mode}-${clients}`,
              `pgbench -S ${mode}, ${clients} clients`,
              cpu,
            ),
          );
        }
      }
    }
    if (which.connect) {
      // -C: a new connection for every transaction, so tps is connections per second.
      cpu = {};
      const samples = await alternate(
        ids,
        sizes.dbRounds,
        (id) => pgbench(id, ['-S', '-C', '-c', '4', '-j', '2']),
        'pg.connect',
      );
      out.push({
        id: 'pg.connect',
        title: 'pgbench -S -C (new connection per query), 4 clients',
        unit: 'conn/s',
        better: 'higher',
        compare: 'ratio',
        samples,
        note,
      });
      out.push(cpuWorkload('pg.connect', 'pgbench -S -C, 4 clients', cpu, 'connection'));
    }
    if (which.idle) {
      for (const count of sizes.dbIdle) {
        const idlePaths = paths.map((p) => idlePathOf(p, () => openIdle(p)));
        out.push(
          ...(await measureIdleConnections({
            prefix: 'pg',
            what: 'PostgreSQL connections',
            count,
            paths: idlePaths,
            settleMs: sizes.settleMs,
          })),
        );
      }
    }
    return out;
  } finally {
    await cleanup[Symbol.asyncDispose]();
  }
}

/**
 * CPU time of the middle process (bare relay, pgbouncer, Gatehouse) per transaction, from
 * /proc/PID/stat around each run: what the hop costs, less swayed by other load than rates.
 */
export function cpuWorkload(
  id: string,
  title: string,
  samples: Record<string, number[]>,
  per = 'transaction',
): Workload {
  return {
    id: `${id}-cpu`,
    title: `${title}: CPU of the middle process per ${per} (logins included)`,
    unit: per === 'transaction' ? 'µs/txn' : 'µs/conn',
    better: 'lower',
    compare: 'ratio',
    samples,
  };
}

function pgEnv(path: PgPath): Record<string, string> {
  return {
    PGHOST: '127.0.0.1',
    PGPORT: String(path.port),
    PGUSER: path.user,
    PGPASSWORD: path.password,
    PGSSLMODE: path.sslmode,
    PGDATABASE: DATABASE,
    PGCONNECT_TIMEOUT: '20',
  };
}

async function openIdle(path: PgPath): Promise<() => Promise<void>> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: path.port,
    user: path.user,
    password: path.password,
    database: DATABASE,
    ssl: path.sslmode === 'require' ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: 30_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('SELECT 1');
  return () => client.end();
}
