import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTimed } from '../bench/lib/processes.js';
import { sshClientArgs } from '../test/support/sshd.js';
import type { DbWrites } from './db-load.js';
import type { LoadWorker } from './ssh-load.js';
import { SESSION_EVENTS, type Tally } from './tally.js';
import type { SoakWorld } from './world.js';

/** Longest run of one client process on a loaded machine. */
const RUN_TIMEOUT_MS = 120_000;
/** Worker numbers of the real clients' rows, apart from the drivers' workers. */
const REAL_WORKER_BASE = 1_000_000;

/** OpenSSH options: alice's key only, no agent, no known_hosts, no system config. */
function sshOptions(world: SoakWorld): string[] {
  return sshClientArgs(world.key.privatePath, { ConnectTimeout: '120' });
}

/**
 * The real OpenSSH client, one connection per round: `scp -O` copies a small file up (the
 * classic protocol: an exec of `scp -t`, audited as a transfer), then `ssh alice@bastion
 * soak-ssh COMMAND` checks it arrived whole and removes it. Each run is a whole session.
 */
export function realSshWorker(world: SoakWorld, tally: Tally, id: number): LoadWorker {
  const dir = mkdtempSync(join(tmpdir(), 'gh-soak-scp-'));
  return {
    open: () => Promise.resolve(true),
    work: async (round) => {
      const name = `soak-real-${id}-${round}.txt`;
      const local = join(dir, name);
      const line = `${randomBytes(24).toString('hex')}\n`;
      writeFileSync(local, line.repeat(64));
      const isCopied = await tally.run('openssh.scp', async () => {
        await runTimed(
          'scp',
          [
            '-O',
            '-q',
            ...sshOptions(world),
            '-P',
            String(world.gatehouse.sshPort),
            local,
            `alice+${world.targets.ssh}@127.0.0.1:${name}`,
          ],
          { timeoutMs: RUN_TIMEOUT_MS },
        );
        return { ...SESSION_EVENTS, 'ssh.exec': 1, 'scp.transfer': 1 };
      });
      rmSync(local, { force: true });
      if (!isCopied) return;
      await tally.run('openssh.exec', async () => {
        const run = await runTimed(
          'ssh',
          [
            ...sshOptions(world),
            '-p',
            String(world.gatehouse.sshPort),
            'alice@127.0.0.1',
            world.targets.ssh,
            `wc -l < ${name} && rm ${name}`,
          ],
          { timeoutMs: RUN_TIMEOUT_MS },
        );
        if (run.stdoutHead.trim() !== '64')
          throw new Error(`openssh.exec: ${JSON.stringify(run.stdoutHead.slice(0, 200))}`);
        return { ...SESSION_EVENTS, 'ssh.exec': 1 };
      });
    },
    close: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

/**
 * The real `psql`, one connection per round, one statement per `-c` (each sent as its own
 * simple query): a select, an insert, a committed transaction, and a count it checks.
 */
export function realPsqlWorker(
  world: SoakWorld,
  tally: Tally,
  id: number,
  writes: DbWrites,
): LoadWorker {
  const worker = REAL_WORKER_BASE + id;
  let n = 0;
  const conninfo = `host=127.0.0.1 port=${world.gatehouse.pgPort} user=alice#${world.targets.pg} dbname=soak sslmode=verify-full sslrootcert=${world.caPath} connect_timeout=120`;
  return {
    open: () => Promise.resolve(true),
    work: async () => {
      await tally.run('psql.run', async () => {
        const a = ++n;
        const b = ++n;
        const statements = [
          'SELECT 1',
          `INSERT INTO soak_items (worker, n) VALUES (${worker}, ${a})`,
          'BEGIN',
          `INSERT INTO soak_items (worker, n, touched) VALUES (${worker}, ${b}, 1)`,
          'COMMIT',
          `SELECT count(*) FROM soak_items WHERE worker = ${worker}`,
        ];
        const run = await runTimed(
          'psql',
          [
            '-X',
            '-q',
            '-At',
            '-v',
            'ON_ERROR_STOP=1',
            '-d',
            conninfo,
            ...statements.flatMap((s) => ['-c', s]),
          ],
          { timeoutMs: RUN_TIMEOUT_MS, env: { PGPASSWORD: world.alicePassword } },
        );
        const lines = run.stdoutHead.trim().split('\n');
        if (lines[0] !== '1' || lines.at(-1) !== String(b))
          throw new Error(`psql: ${JSON.stringify(run.stdoutHead.slice(0, 200))}`);
        writes.rows += 2;
        writes.touched += 1;
        return { ...SESSION_EVENTS, 'db.query': statements.length };
      });
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The real `mariadb` client in batch mode, one connection per round: `-e` with several
 * statements, which the client sends one by one.
 */
export function realMariadbWorker(
  world: SoakWorld,
  tally: Tally,
  id: number,
  writes: DbWrites,
): LoadWorker {
  const worker = REAL_WORKER_BASE + id;
  let n = 0;
  return {
    open: () => Promise.resolve(true),
    work: async () => {
      await tally.run('mariadb.run', async () => {
        const a = ++n;
        const b = ++n;
        const statements = [
          'SELECT 1',
          `INSERT INTO soak_items (worker, n) VALUES (${worker}, ${a})`,
          'START TRANSACTION',
          `INSERT INTO soak_items (worker, n, touched) VALUES (${worker}, ${b}, 1)`,
          'COMMIT',
          `SELECT COUNT(*) FROM soak_items WHERE worker = ${worker}`,
        ];
        const run = await runTimed(
          'mariadb',
          [
            '--no-defaults',
            '-h',
            '127.0.0.1',
            '-P',
            String(world.gatehouse.mysqlPort),
            '-u',
            `alice#${world.targets.mysql}`,
            '--ssl',
            `--ssl-ca=${world.caPath}`,
            '--connect-timeout=120',
            '-N',
            '-B',
            '-e',
            statements.join('; '),
          ],
          { timeoutMs: RUN_TIMEOUT_MS, env: { MYSQL_PWD: world.alicePassword } },
        );
        const lines = run.stdoutHead.trim().split('\n');
        if (lines[0] !== '1' || lines.at(-1) !== String(b))
          throw new Error(`mariadb: ${JSON.stringify(run.stdoutHead.slice(0, 200))}`);
        writes.rows += 2;
        writes.touched += 1;
        return { ...SESSION_EVENTS, 'db.query': statements.length };
      });
    },
    close: () => Promise.resolve(),
  };
}
