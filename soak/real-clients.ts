import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTimed } from '../bench/lib/processes.js';
import { mariadbArgs } from '../test/support/mariadb-args.js';
import { pgConninfo } from '../test/support/pg-conninfo.js';
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

/** A real database command-line client: its transaction word and how it runs statements. */
interface RealDbClient {
  /** The tally's name for one run. */
  readonly op: string;
  /** The statement that opens a transaction. */
  readonly begin: string;
  /** `file ARGS` and the environment (the password) that run `statements` as one connection. */
  command(
    world: SoakWorld,
    statements: readonly string[],
  ): { file: string; args: string[]; env: Record<string, string> };
}

/** The real `psql`: one statement per `-c` (each sent as its own simple query). */
const PSQL: RealDbClient = {
  op: 'psql.run',
  begin: 'BEGIN',
  command: (world, statements) => ({
    file: 'psql',
    args: [
      '-X',
      '-q',
      '-At',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      pgConninfo({
        port: world.gatehouse.pgPort,
        login: `alice#${world.targets.pg}`,
        dbname: 'soak',
        caPath: world.caPath,
        connectTimeoutS: 120,
      }),
      ...statements.flatMap((s) => ['-c', s]),
    ],
    env: { PGPASSWORD: world.alicePassword },
  }),
};

/** The real `mariadb` client in batch mode: `-e` with several statements, sent one by one. */
const MARIADB: RealDbClient = {
  op: 'mariadb.run',
  begin: 'START TRANSACTION',
  command: (world, statements) => ({
    file: 'mariadb',
    args: [
      ...mariadbArgs({
        port: world.gatehouse.mysqlPort,
        login: `alice#${world.targets.mysql}`,
        caPath: world.caPath,
        connectTimeoutS: 120,
      }),
      '-N',
      '-B',
      '-e',
      statements.join('; '),
    ],
    env: { MYSQL_PWD: world.alicePassword },
  }),
};

/**
 * A real database client, one connection per round: a select, an insert, a committed
 * transaction, and a count it checks.
 */
function realDbWorker(
  client: RealDbClient,
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
      await tally.run(client.op, async () => {
        const a = ++n;
        const b = ++n;
        const statements = [
          'SELECT 1',
          `INSERT INTO soak_items (worker, n) VALUES (${worker}, ${a})`,
          client.begin,
          `INSERT INTO soak_items (worker, n, touched) VALUES (${worker}, ${b}, 1)`,
          'COMMIT',
          `SELECT count(*) FROM soak_items WHERE worker = ${worker}`,
        ];
        const { file, args, env } = client.command(world, statements);
        try {
          const run = await runTimed(file, args, { timeoutMs: RUN_TIMEOUT_MS, env });
          const lines = run.stdoutHead.trim().split('\n');
          if (lines[0] !== '1' || lines.at(-1) !== String(b))
            throw new Error(`${file}: ${JSON.stringify(run.stdoutHead.slice(0, 200))}`);
        } catch (err) {
          // Cut anywhere, even after its COMMIT: the table may or may not hold its rows.
          const unsure = (writes.unsure ??= { rows: 0, touched: 0 });
          unsure.rows += 2;
          unsure.touched += 1;
          throw err;
        }
        writes.rows += 2;
        writes.touched += 1;
        return { ...SESSION_EVENTS, 'db.query': statements.length };
      });
    },
    close: () => Promise.resolve(),
  };
}

/** The real `psql` as a soak worker ({@link realDbWorker}). */
export function realPsqlWorker(
  world: SoakWorld,
  tally: Tally,
  id: number,
  writes: DbWrites,
): LoadWorker {
  return realDbWorker(PSQL, world, tally, id, writes);
}

/** The real `mariadb` client as a soak worker ({@link realDbWorker}). */
export function realMariadbWorker(
  world: SoakWorld,
  tally: Tally,
  id: number,
  writes: DbWrites,
): LoadWorker {
  return realDbWorker(MARIADB, world, tally, id, writes);
}
