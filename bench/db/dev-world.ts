// Dev helper (not part of the bench run): sets up Gatehouse, a SCRAM PG cluster and a MariaDB
// account with targets and a grant, prints their coordinates as JSON and waits for SIGTERM;
// SIGHUP restarts Gatehouse (after a rebuild).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { addDbTarget } from '../../test/support/db-target.js';
import { startGatehouse } from '../../test/support/gatehouse.js';
import { createMariadbDatabaseAccount } from '../../test/support/mariadb-account.js';
import { findPgBinDir, startPgCluster } from '../../test/support/pg-cluster.js';
import { runTimed } from '../lib/processes.js';
import { startBareRelay } from '../lib/relay-process.js';

const out = process.argv[3] ?? '/tmp/dbperf/world.json';
const prof = process.env['CPU_PROF_DIR'] ?? '/tmp/dbperf/prof';
// Mutable: SIGUSR2 restarts Gatehouse under --cpu-prof, SIGHUP without.
const nodeArgs: string[] = [];
const gh = await startGatehouse({ nodeArgs });
const alice = { name: 'alice', password: randomBytes(12).toString('hex') };
await gh.cli(['user', 'add', alice.name, '--password-stdin'], { stdin: `${alice.password}\n` });
const cluster = await startPgCluster({
  superPassword: randomBytes(12).toString('hex'),
  settings: { max_connections: '500' },
});
const leased = randomBytes(12).toString('hex');
const su = new pg.Client({ connectionString: cluster.url });
await su.connect();
await su.query(`CREATE ROLE bench_leased LOGIN PASSWORD '${leased}'`);
await su.query('CREATE DATABASE bench OWNER bench_leased');
await su.end();
const bin = findPgBinDir();
await runTimed(join(bin, 'pgbench'), ['-i', '-q', '-s', '1', 'bench'], {
  env: {
    PGHOST: '127.0.0.1',
    PGPORT: String(cluster.port),
    PGUSER: 'bench_leased',
    PGPASSWORD: leased,
    PGSSLMODE: 'disable',
  },
});
const grant = { grantTo: alice.name, grantFor: '24h' };
await addDbTarget(
  gh,
  {
    name: 'bench-pg',
    kind: 'postgres',
    host: cluster.host,
    port: cluster.port,
    username: 'bench_leased',
    password: leased,
    database: 'bench',
  },
  grant,
);
const account = await createMariadbDatabaseAccount({ password: leased, prefix: 'gh_dev_' });
await addDbTarget(
  gh,
  {
    name: 'bench-my',
    kind: 'mysql',
    host: account.host,
    port: account.port,
    username: account.user,
    password: leased,
    database: account.database,
  },
  grant,
);
const pgRelay = await startBareRelay({ host: cluster.host, port: cluster.port });
const myRelay = await startBareRelay({ host: account.host, port: account.port });
const info = () => ({
  ghPid: gh.pid,
  ghDir: gh.dir,
  pgPort: gh.pgPort,
  mysqlPort: gh.mysqlPort,
  alice,
  cluster: { port: cluster.port },
  leased,
  myUser: account.user,
  myPort: account.port,
  pgRelay: { port: pgRelay.port, pid: pgRelay.pid },
  myRelay: { port: myRelay.port, pid: myRelay.pid },
});
writeFileSync(out, JSON.stringify(info(), null, 1));
process.stderr.write(`world ready: ${out}\n`);
const restart = (withProfile: boolean): void => {
  nodeArgs.length = 0;
  if (withProfile) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${prof}`);
  void (async () => {
    await gh.stop();
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await gh.restart();
        break;
      } catch (err) {
        process.stderr.write(`restart failed: ${String(err).slice(0, 200)}\n`);
      }
    }
    writeFileSync(out, JSON.stringify(info(), null, 1));
    process.stderr.write('gatehouse restarted\n');
  })();
};
process.on('SIGHUP', () => restart(false));
process.on('SIGUSR2', () => restart(true));
await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
await pgRelay[Symbol.asyncDispose]();
await myRelay[Symbol.asyncDispose]();
await account[Symbol.asyncDispose]();
await cluster[Symbol.asyncDispose]();
await gh[Symbol.asyncDispose]();
process.exit(0);
