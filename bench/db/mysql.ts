import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { addDbTarget } from '../../test/support/db-target.js';
import type { RunningGatehouse } from '../../test/support/gatehouse.js';
import { restartGatehouse } from './restart.js';
import {
  createMariadbDatabaseAccount,
  raiseMaxConnections,
  TEST_MYSQL_URL,
} from '../../test/support/mariadb-account.js';
import { Cleanup } from '../lib/cleanup.js';
import { idlePathOf, measureIdleConnections } from '../lib/idle.js';
import type { BenchSizes } from '../lib/options.js';
import type { CpuSplit } from '../lib/cpu-split.js';
import { cpuTimeMs, progress, runTimed } from '../lib/processes.js';
import { cpuWorkload } from './postgres.js';
import { startBareRelay } from '../lib/relay-process.js';
import { alternate, type Workload } from '../lib/results.js';

const TARGET = 'bench-my';
const TABLE_SIZE = 10_000;

/** How sysbench reaches MariaDB on one path. */
interface MyPath {
  readonly id: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Gatehouse takes passwords over TLS only. */
  readonly isTls: boolean;
  readonly pid?: () => number;
  readonly restart?: () => Promise<void>;
}

/**
 * sysbench oltp_point_select, direct, through the bare relay and through Gatehouse, on the
 * machine's MariaDB with a throwaway account and database; and idle connections' memory.
 */
export async function runMysqlBench(
  gatehouse: RunningGatehouse,
  alice: { name: string; password: string },
  sizes: BenchSizes,
  which: { sysbench: boolean; idle: boolean },
  split: CpuSplit,
): Promise<Workload[]> {
  const cleanup = new Cleanup();
  try {
    const leasedPassword = randomBytes(12).toString('hex');
    const account = cleanup.use(
      await createMariadbDatabaseAccount({ password: leasedPassword, prefix: 'gh_bench_' }),
    );
    const { database } = account;
    if (which.idle) {
      // Idle connections through Gatehouse or the relay each hold one on the server too.
      const root = await mysql.createConnection({ uri: TEST_MYSQL_URL });
      try {
        const raised = await raiseMaxConnections(root, Math.max(0, ...sizes.dbIdle) + 64);
        if (raised !== undefined)
          progress(
            `MariaDB max_connections ${raised.from} → ${raised.to} (${raised.inUse} in use)`,
          );
      } finally {
        await root.end();
      }
    }

    const direct: MyPath = {
      id: 'direct',
      port: account.port,
      user: account.user,
      password: leasedPassword,
      isTls: false,
    };
    const workDir = await sysbenchTlsDir(join(gatehouse.dir, 'tls', 'ca.crt'));
    cleanup.defer(() => rmSync(workDir, { recursive: true, force: true }));
    const sysbench = (path: MyPath, args: readonly string[]): Promise<{ stdoutHead: string }> => {
      split.middle(path.pid?.());
      return runTimed(
        'sysbench',
        [
          'oltp_point_select',
          '--db-driver=mysql',
          `--mysql-host=127.0.0.1`,
          `--mysql-port=${path.port}`,
          `--mysql-user=${path.user}`,
          // A throwaway account made for this run; sysbench takes the password only here.
          `--mysql-password=${path.password}`,
          `--mysql-db=${database}`,
          `--mysql-ssl=${path.isTls ? 'on' : 'off'}`,
          '--tables=1',
          `--table-size=${TABLE_SIZE}`,
          ...args,
        ],
        { timeoutMs: (sizes.dbSeconds + 120) * 1000, cwd: workDir },
      );
    };
    await sysbench(direct, ['prepare']);
    cleanup.defer(split.server(account.port));

    await addDbTarget(
      gatehouse,
      {
        name: TARGET,
        kind: 'mysql',
        host: account.host,
        port: account.port,
        username: account.user,
        password: leasedPassword,
        database,
      },
      { grantTo: alice.name, grantFor: '24h' },
    );
    const relay = cleanup.use(await startBareRelay({ host: account.host, port: account.port }));
    const paths: MyPath[] = [
      direct,
      { ...direct, id: 'bare-relay', port: relay.port, pid: () => relay.pid },
      {
        id: 'gatehouse',
        port: gatehouse.mysqlPort,
        user: `${alice.name}#${TARGET}`,
        password: alice.password,
        isTls: true,
        pid: () => gatehouse.pid,
        restart: () => restartGatehouse(gatehouse),
      },
    ];
    const byId = new Map(paths.map((p) => [p.id, p]));
    const out: Workload[] = [];
    if (which.sysbench) {
      // Warm the fresh Gatehouse up (lazy imports, JIT) before the measured rounds.
      const gatehousePath = byId.get('gatehouse');
      if (gatehousePath !== undefined)
        await sysbench(gatehousePath, ['--threads=2', `--time=${sizes.dbSeconds}`, 'run']);
      for (const threads of sizes.dbClients) {
        const cpu: Record<string, number[]> = {};
        const samples = await alternate(
          paths.map((p) => p.id),
          sizes.dbRounds,
          async (id) => {
            const pid = byId.get(id)?.pid?.();
            const cpuBefore = pid === undefined ? Number.NaN : cpuTimeMs(pid);
            const run = await sysbench(byId.get(id) ?? direct, [
              `--threads=${threads}`,
              `--time=${sizes.dbSeconds}`,
              '--report-interval=0',
              'run',
            ]);
            const perSecond = /transactions:\s+\d+\s+\(([\d.]+) per sec/.exec(run.stdoutHead)?.[1];
            if (perSecond === undefined)
              throw new Error(`${id}: no rate in sysbench output: ${run.stdoutHead}`);
            const done = Number(/transactions:\s+(\d+)/.exec(run.stdoutHead)?.[1] ?? Number.NaN);
            if (pid !== undefined && done > 0)
              (cpu[id] ??= []).push(((cpuTimeMs(pid) - cpuBefore) * 1000) / done);
            return Number(perSecond);
          },
          `my.point-select-${threads}`,
        );
        out.push({
          id: `my.point-select-${threads}`,
          title: `sysbench oltp_point_select, ${threads} thread${threads === 1 ? '' : 's'}`,
          unit: 'qps',
          better: 'higher',
          compare: 'ratio',
          samples,
          note: 'prepared statements (sysbench default); Gatehouse: TLS from the client (required), audit and transcript',
        });
        out.push(
          cpuWorkload(
            `my.point-select-${threads}`,
            `sysbench oltp_point_select, ${threads} threads`,
            cpu,
          ),
        );
      }
    }
    if (which.idle) {
      for (const count of sizes.dbIdle) {
        const idlePaths = paths.map((p) => idlePathOf(p, () => openIdle(p, database)));
        out.push(
          ...(await measureIdleConnections({
            prefix: 'my',
            what: 'MySQL connections',
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

async function openIdle(path: MyPath, database: string): Promise<() => Promise<void>> {
  const connection = await mysql.createConnection({
    host: '127.0.0.1',
    port: path.port,
    user: path.user,
    password: path.password,
    database,
    connectTimeout: 30_000,
    ...(path.isTls ? { ssl: { rejectUnauthorized: false } } : {}),
  });
  connection.on('error', () => undefined);
  await connection.query('SELECT 1');
  return () => connection.end();
}

/**
 * sysbench 1.0 with `--mysql-ssl=on` loads `cacert.pem`, `client-cert.pem` and `client-key.pem`
 * from its working directory, and fails without them: a directory with Gatehouse's CA and a
 * throwaway client certificate (Gatehouse asks for none; the client just needs the files).
 */
async function sysbenchTlsDir(caPath: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sysbench-'));
  copyFileSync(caPath, join(dir, 'cacert.pem'));
  await runTimed('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=gatehouse-bench',
    '-days',
    '2',
    '-keyout',
    join(dir, 'client-key.pem'),
    '-out',
    join(dir, 'client-cert.pem'),
  ]);
  return dir;
}
