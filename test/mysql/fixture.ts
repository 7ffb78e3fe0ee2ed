import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { startGatehouse, type RunningGatehouse } from '../support/gatehouse.js';
import type { AuditLine } from '../support/gatehouse-store.js';
import {
  createMariadbDatabaseAccount,
  TEST_MYSQL_URL,
  type MariadbDatabaseAccount,
} from '../support/mariadb-account.js';
import { mariadbArgs } from '../support/mariadb-args.js';
import { runProcess } from '../support/process.js';
import { recordingFiles } from '../support/recording-files.js';

export type { AuditLine };

/** Alice's Gatehouse password. */
export const ALICE_PASSWORD = 'alice-Gatehouse-pw-1';
/** The leased account's password (only Gatehouse holds it). */
export const LEASED_PASSWORD = `leased-${randomBytes(6).toString('hex')}`;

/** Output of the mariadb/mysql command-line client. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Gatehouse in front of the machine's MariaDB: alice may reach `shop-db`, `shop-ro` (read-only)
 * and `down-db` (nothing listens there), not `hidden-db`.
 */
export interface MysqlWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly account: MariadbDatabaseAccount;
  /** The database the leased account owns (`account.database`). */
  readonly database: string;
  /** Path of the init CA certificate (for `--ssl-ca`). */
  readonly caPath: string;
  readonly caPem: string;
  /** mysql2 connection options through Gatehouse as `login` (default `alice#shop-db`). */
  connectOptions(
    extra?: Partial<mysql.ConnectionOptions> & { login?: string; password?: string },
  ): mysql.ConnectionOptions;
  /** Connects with mysql2 through Gatehouse. */
  connect(
    extra?: Partial<mysql.ConnectionOptions> & { login?: string; password?: string },
  ): Promise<mysql.Connection>;
  /**
   * Runs the real `mariadb` client through Gatehouse (password via MYSQL_PWD, never argv), over
   * TLS with the server's certificate checked against the init CA unless `isPlaintext`.
   */
  cli(
    args: readonly string[],
    options?: {
      input?: string;
      login?: string;
      password?: string;
      timeoutMs?: number;
      isPlaintext?: boolean;
    },
  ): Promise<CliResult>;
  /** Runs a statement as the server's root (test setup and checks). */
  root<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  auditEvents(n?: number): Promise<AuditLine[]>;
  /** Every transcript file under the data dir. */
  transcriptFiles(): string[];
}

/** Starts Gatehouse and the targets; tears everything down on dispose (or when setup fails). */
export async function startMysqlWorld(): Promise<MysqlWorld> {
  const account = await createMariadbDatabaseAccount({
    password: LEASED_PASSWORD,
    prefix: 'gh_my_',
  });
  const rootConn = await mysql.createConnection({ uri: TEST_MYSQL_URL, multipleStatements: true });
  const root = async <T>(sql: string, values?: unknown[]): Promise<T> => {
    const [rows] = await rootConn.query(sql, values);
    return rows as T;
  };
  let gatehouse: RunningGatehouse | undefined;
  try {
    gatehouse = await startGatehouse();
    return await setUpWorld({ account, root, rootConn, gatehouse });
  } catch (err) {
    await Promise.resolve(gatehouse?.[Symbol.asyncDispose]()).catch(() => undefined);
    await rootConn.end().catch(() => undefined);
    await account.drop().catch(() => undefined);
    throw err;
  }
}

interface WorldParts {
  readonly account: MariadbDatabaseAccount;
  readonly root: <T>(sql: string, values?: unknown[]) => Promise<T>;
  readonly rootConn: mysql.Connection;
  readonly gatehouse: RunningGatehouse;
}

async function setUpWorld({ account, root, rootConn, gatehouse }: WorldParts): Promise<MysqlWorld> {
  const { database } = account;
  // Independent CLI commands run side by side (each is a process opening the store).
  const targetArgs = [
    '--kind',
    'mysql',
    '--host',
    account.host,
    '--port',
    String(account.port),
    '--username',
    account.user,
    '--database',
    database,
  ];
  await Promise.all([
    gatehouse.cli(['user', 'add', 'alice', '--password-stdin'], { stdin: `${ALICE_PASSWORD}\n` }),
    gatehouse.cli(['target', 'add', 'shop-db', ...targetArgs]),
    gatehouse.cli(['target', 'add', 'shop-ro', ...targetArgs, '--read-only']),
    gatehouse.cli([
      'target',
      'add',
      'down-db',
      '--kind',
      'mysql',
      '--host',
      '127.0.0.1',
      '--port',
      '1',
      '--username',
      account.user,
    ]),
    gatehouse.cli(['target', 'add', 'hidden-db', ...targetArgs]),
  ]);
  // hidden-db: alice has no grant (access is checked before any credential is unlocked).
  const targets = ['shop-db', 'shop-ro', 'down-db'];
  await Promise.all(
    targets.map((t) =>
      gatehouse.cli(['credential', 'set', t, '--password-stdin'], {
        stdin: `${LEASED_PASSWORD}\n`,
      }),
    ),
  );
  await Promise.all(targets.map((t) => gatehouse.cli(['grant', 'alice', t, '--for', '1h'])));
  const caPath = join(gatehouse.dir, 'tls', 'ca.crt');
  const caPem = readFileSync(caPath, 'utf8');
  const connectOptions = (
    extra: Partial<mysql.ConnectionOptions> & { login?: string; password?: string } = {},
  ): mysql.ConnectionOptions => {
    const { login, password, ...rest } = extra;
    return {
      host: '127.0.0.1',
      port: gatehouse.mysqlPort,
      user: login ?? 'alice#shop-db',
      password: password ?? ALICE_PASSWORD,
      ssl: { ca: caPem },
      connectTimeout: 10_000,
      ...rest,
    };
  };
  return {
    gatehouse,
    account,
    database,
    caPath,
    caPem,
    connectOptions,
    connect: (extra) => mysql.createConnection(connectOptions(extra)),
    cli: (args, options = {}) =>
      runCli(
        [
          ...mariadbArgs({
            port: gatehouse.mysqlPort,
            login: options.login ?? 'alice#shop-db',
            ...(options.isPlaintext === true ? {} : { caPath }),
          }),
          ...args,
        ],
        {
          env: { MYSQL_PWD: options.password ?? ALICE_PASSWORD },
          ...(options.input === undefined ? {} : { input: options.input }),
          timeoutMs: options.timeoutMs ?? 20_000,
        },
      ),
    root,
    auditEvents: async (n = 2000) => {
      const tail = await gatehouse.cli(['audit', 'tail', '-n', String(n), '--json']);
      return tail.stdout
        .trim()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as AuditLine);
    },
    transcriptFiles: () => recordingFiles(gatehouse.dir, '.db.ndjson'),
    [Symbol.asyncDispose]: async () => {
      await gatehouse[Symbol.asyncDispose]();
      await rootConn.end();
      await account.drop();
    },
  };
}

/** Runs `mariadb ARGS` and collects its output; rejects when it had to be killed after `timeoutMs`. */
export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; timeoutMs: number },
): Promise<CliResult> {
  const run = await runProcess('mariadb', args, options);
  if (run.signal === 'SIGKILL') throw new Error(`mariadb timed out: ${run.stdout}\n${run.stderr}`);
  return run;
}
