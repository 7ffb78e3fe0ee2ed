import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startGatehouse } from '../../test/support/gatehouse.js';
import { findPgBinDir } from '../../test/support/pg-cluster.js';
import type { CpuSplit } from '../lib/cpu-split.js';
import { isSelected, type BenchOptions } from '../lib/options.js';
import { progress } from '../lib/processes.js';
import type { SkippedWorkload, Workload } from '../lib/results.js';
import { runMysqlBench } from './mysql.js';
import { runPostgresBench } from './postgres.js';

const SETUP_HINT = 'run bench/setup.sh (installs sysbench and pgbouncer)';

/** Runs the selected database workloads against one Gatehouse (PostgreSQL and MySQL front ends). */
export async function runDbBench(
  options: BenchOptions,
  split: CpuSplit,
): Promise<{ workloads: Workload[]; skipped: SkippedWorkload[] }> {
  const wants = (id: string): boolean => isSelected(options, id);
  const pg = { pgbench: wants('pg.pgbench'), connect: wants('pg.connect'), idle: wants('pg.idle') };
  const my = { sysbench: wants('my.point-select'), idle: wants('my.idle') };
  const skipped: SkippedWorkload[] = [];
  const isPgWanted = pg.pgbench || pg.connect || pg.idle;
  const isMyWanted = my.sysbench || my.idle;
  if (isPgWanted && !(hasCommand('pgbouncer') && existsSync(join(findPgBinDir(), 'pgbench')))) {
    skipped.push({ id: 'pg.', reason: `pgbench or pgbouncer not found: ${SETUP_HINT}` });
  }
  if (isMyWanted && !hasCommand('sysbench'))
    skipped.push({ id: 'my.', reason: `sysbench not found: ${SETUP_HINT}` });
  const runPg = isPgWanted && !skipped.some((s) => s.id === 'pg.');
  const runMy = isMyWanted && !skipped.some((s) => s.id === 'my.');
  if (!runPg && !runMy) return { workloads: [], skipped };

  progress('db: starting Gatehouse');
  const gatehouse = await startGatehouse({
    // The gatehouse-plain path (asked for with --paths) shows what TLS from the client costs.
    beforeServe: allowPlaintextPostgres,
    ...(options.cpuProfDir === undefined
      ? {}
      : {
          nodeArgs: [
            '--cpu-prof',
            `--cpu-prof-dir=${options.cpuProfDir}`,
            '--cpu-prof-name=gatehouse-db.cpuprofile',
          ],
        }),
  });
  try {
    const alice = { name: 'alice', password: randomBytes(12).toString('hex') };
    await gatehouse.cli(['user', 'add', alice.name, '--password-stdin'], {
      stdin: `${alice.password}\n`,
    });
    const workloads: Workload[] = [];
    if (runPg)
      workloads.push(
        ...(await runPostgresBench(gatehouse, alice, options.sizes, pg, options.paths, split)),
      );
    if (runMy) workloads.push(...(await runMysqlBench(gatehouse, alice, options.sizes, my, split)));
    return { workloads, skipped };
  } finally {
    await gatehouse[Symbol.asyncDispose]();
  }
}

// `postgres.allowPlaintext: true` in the config `gatehouse init` wrote (clients may still use TLS).
function allowPlaintextPostgres(dir: string): void {
  const path = join(dir, 'gatehouse.yaml');
  const config = parseYaml(readFileSync(path, 'utf8')) as Record<
    string,
    Record<string, unknown> | undefined
  >;
  writeFileSync(
    path,
    stringifyYaml({ ...config, postgres: { ...config['postgres'], allowPlaintext: true } }),
  );
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
