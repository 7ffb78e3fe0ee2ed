import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { openControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { runGatehouse, type CliRun } from '../support/cli.js';
import { startGatehouse, type RunningGatehouse } from '../support/gatehouse.js';
import {
  createMariadbDatabaseAccount,
  TEST_MYSQL_URL,
  type MariadbDatabaseAccount,
} from '../support/mariadb-account.js';
import { mariadbArgs } from '../support/mariadb-args.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { pgConninfo } from '../support/pg-conninfo.js';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { startSshd, type Sshd } from '../support/sshd.js';
import { runProcess } from '../postgres/fixture.js';
import { runClient, type ClientRun } from '../ssh/transfer-clients.js';
import {
  canaryText,
  makeCanary,
  nearMiss,
  textHaystack,
  type Canary,
  type Haystack,
} from './canary-search.js';
import { sshKeyCanaries } from './ssh-key-canary.js';

const run = promisify(execFile);

/** The Unix account the leased SSH credentials log in as (machine-wide; only this test uses it). */
export const LEASED_ACCOUNT = 'gh_canary';
/** The account `sudo -u` switches to; sudo asks for *its* password (`targetpw`). */
export const SUDO_ACCOUNT = 'gh_canary_ops';
const SUDOERS_FILE = '/etc/sudoers.d/gh-canary-test';
/** The prompt sudo shows (set with `-p`), so the test knows when to type. */
export const SUDO_PROMPT = 'SUDO-PASSWORD-FOR-OPS:';
const PG_ROLE = 'leased';

/** Every secret of the run, by what it is. */
export interface Secrets {
  readonly sshPassword: Canary;
  readonly sshKey: readonly Canary[];
  readonly pgPassword: Canary;
  readonly mysqlPassword: Canary;
  /** Credentials that the targets refuse (upstream login fails). */
  readonly sshWrongPassword: Canary;
  readonly pgWrongPassword: Canary;
  readonly mysqlWrongPassword: Canary;
  readonly alicePassword: Canary;
  readonly aliceNearMiss: Canary;
  readonly bobPassword: Canary;
  readonly sudoPassword: Canary;
  readonly readSecret: Canary;
  readonly pgCreateRole: Canary;
  readonly pgAlterRole: Canary;
  readonly pgAlterMissing: Canary;
  readonly pgParam: Canary;
  readonly pgPrepared: Canary;
  readonly myCreateUser: Canary;
  readonly myAlterUser: Canary;
  readonly mySetPassword: Canary;
  readonly myParam: Canary;
  readonly myPrepared: Canary;
  /** In statements a read-only target refuses. */
  readonly pgDenied: Canary;
  readonly myDenied: Canary;
  readonly badKeyBody: Canary;
}

/** Gatehouse with SSH, PostgreSQL and MySQL targets whose credentials are canaries. */
export interface CanaryWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly sshd: Sshd;
  readonly cluster: PgCluster;
  readonly mysqlAccount: MariadbDatabaseAccount;
  readonly alice: SshKeyPair;
  readonly secrets: Secrets;
  /** Secrets Gatehouse made itself (admin password, tokens, console cookies): added as they appear. */
  readonly generated: Canary[];
  /** Every output collected so far (CLI runs, client runs, HTTP answers). */
  readonly outputs: Haystack[];
  /** Scratch dir of the test (client files; not searched). */
  readonly scratch: string;
  /** Node diagnostic reports of the server go here. */
  readonly reportsDir: string;
  readonly caPath: string;
  /** Every secret, plain list. */
  allCanaries(): Canary[];
  /** What the control plane opened in the test process logged (trace level). */
  controlPlaneLog(): string;
  /** Records an output to search later. */
  note(where: string, text: string): void;
  /** `gatehouse ARGS` against the setup, output recorded unless `isSecretOutput` (a command that prints a secret once by design). */
  cli(
    args: readonly string[],
    options?: { stdin?: string; isSecretOutput?: boolean; mayFail?: boolean },
  ): Promise<CliRun>;
  /** Runs a client program (ssh, scp, sftp, psql, mariadb), output recorded. */
  client(
    file: string,
    args: readonly string[],
    options?: { input?: string; env?: Record<string, string>; timeoutMs?: number },
  ): Promise<ClientRun>;
  /** `ssh` options with alice's key (`portFlag: '-P'` for scp and sftp). */
  sshKeyArgs(options?: { portFlag?: '-p' | '-P' }): string[];
  /** `ssh` options for a password login; the secret comes from an askpass program reading a 0600 file. */
  sshPasswordArgs(
    secret: Canary,
    method?: 'password' | 'keyboard-interactive',
  ): { args: string[]; env: Record<string, string> };
  /** libpq connection string through Gatehouse. */
  pgConninfo(login: string): string;
  /** `mariadb` arguments through Gatehouse (TLS, verified). */
  mariadbArgs(login: string): string[];
  /** pg client options through Gatehouse. */
  pgClientConfig(login: string, password: string): pg.ClientConfig;
  /** mysql2 options through Gatehouse. */
  mysqlOptions(login: string, password: string): mysql.ConnectionOptions;
  /** Runs SQL as the MariaDB root (setup). */
  mysqlRoot(sql: string, values?: unknown[]): Promise<void>;
}

/** Makes the secrets, the upstreams (sshd + sudo, a SCRAM PostgreSQL cluster, a MariaDB account) and Gatehouse. */
export async function startCanaryWorld(): Promise<CanaryWorld> {
  const scratch = mkdtempSync(join(tmpdir(), 'gh-canary-'));
  const reportsDir = join(scratch, 'reports');
  mkdirSync(reportsDir);
  const cleanups: (() => Promise<void> | void)[] = [
    () => rmSync(scratch, { recursive: true, force: true }),
  ];
  const cleanUp = async (): Promise<void> => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch {
        // best effort: the rest must still be cleaned up
      }
    }
  };
  try {
    const keyPath = join(scratch, 'leased_ed25519');
    await run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'leased-canary',
      '-f',
      keyPath,
    ]);
    const alicePassword = makeCanary('alice-password');
    const sshPassword = makeCanary('ssh-password');
    const pgPassword = makeCanary('pg-password');
    const mysqlPassword = makeCanary('mysql-password');
    const secrets: Secrets = {
      sshPassword,
      sshKey: sshKeyCanaries(readFileSync(keyPath, 'utf8'), 'ssh-key'),
      pgPassword,
      mysqlPassword,
      sshWrongPassword: nearMiss(sshPassword, 'ssh-wrong-password'),
      pgWrongPassword: nearMiss(pgPassword, 'pg-wrong-password'),
      mysqlWrongPassword: nearMiss(mysqlPassword, 'mysql-wrong-password'),
      alicePassword,
      aliceNearMiss: nearMiss(alicePassword, 'alice-near-miss'),
      bobPassword: makeCanary('bob-password'),
      sudoPassword: makeCanary('sudo-password'),
      readSecret: makeCanary('read-s-secret'),
      pgCreateRole: makeCanary('pg-create-role'),
      pgAlterRole: makeCanary('pg-alter-role'),
      pgAlterMissing: makeCanary('pg-alter-missing-role'),
      pgParam: makeCanary('pg-bound-param'),
      pgPrepared: makeCanary('pg-prepared-create-role'),
      myCreateUser: makeCanary('mysql-create-user'),
      myAlterUser: makeCanary('mysql-alter-user'),
      mySetPassword: makeCanary('mysql-set-password'),
      myParam: makeCanary('mysql-bound-param'),
      myPrepared: makeCanary('mysql-prepared-create-user'),
      pgDenied: makeCanary('pg-read-only-denied'),
      myDenied: makeCanary('mysql-read-only-denied'),
      badKeyBody: makeCanary('bad-private-key-body'),
    };

    // SSH target: the leased account logs in with the password or the key; it may run
    // commands as SUDO_ACCOUNT after typing that account's password at sudo's prompt.
    const sshd = await startSshd({ account: LEASED_ACCOUNT, allowPassword: true });
    cleanups.push(async () => await sshd[Symbol.asyncDispose]());
    await sshd.setPassword(canaryText(sshPassword));
    sshd.authorizeKey(readFileSync(`${keyPath}.pub`, 'utf8'));
    await ensureSudoAccount(canaryText(secrets.sudoPassword));
    cleanups.push(() => rmSync(SUDOERS_FILE, { force: true }));

    // PostgreSQL target: a SCRAM-only cluster; the leased role may create roles.
    const cluster = await startPgCluster({
      superPassword: `super-${randomBytes(8).toString('hex')}`,
    });
    cleanups.push(() => cluster.stop());
    const superClient = new pg.Client({ connectionString: cluster.url });
    await superClient.connect();
    try {
      await superClient.query(
        `CREATE ROLE ${PG_ROLE} LOGIN CREATEROLE PASSWORD '${canaryText(pgPassword)}'`,
      );
      await superClient.query(`CREATE DATABASE app OWNER ${PG_ROLE}`);
    } finally {
      await superClient.end();
    }
    const appClient = new pg.Client({
      connectionString: cluster.url.replace(/\/postgres$/, '/app'),
    });
    await appClient.connect();
    try {
      await appClient.query(`SET ROLE ${PG_ROLE}`);
      await appClient.query('CREATE TABLE app_users (id int PRIMARY KEY, password text)');
      await appClient.query("INSERT INTO app_users VALUES (1, 'old')");
    } finally {
      await appClient.end();
    }

    // MySQL target: a throwaway account on the machine's MariaDB that may create users.
    const mysqlAccount = await createMariadbDatabaseAccount({
      password: canaryText(mysqlPassword),
      prefix: 'gh_cny_',
    });
    cleanups.push(() => mysqlAccount.drop());
    const { database } = mysqlAccount;
    const mysqlRoot = async (sql: string, values?: unknown[]): Promise<void> => {
      const root = await mysql.createConnection({ uri: TEST_MYSQL_URL, connectTimeout: 10_000 });
      try {
        await root.query(sql, values);
      } finally {
        await root.end();
      }
    };
    await mysqlRoot(
      `CREATE TABLE \`${database}\`.app_users (id int PRIMARY KEY, password varchar(200))`,
    );
    await mysqlRoot(`INSERT INTO \`${database}\`.app_users VALUES (1, 'old')`);
    for (const host of mysqlAccount.hosts)
      await mysqlRoot('GRANT CREATE USER ON *.* TO ?@?', [mysqlAccount.user, host]);

    // Gatehouse: debug logs and Node diagnostic reports; a preloaded hook turns SIGHUP into an
    // uncaught exception (the crash path), SIGUSR2 writes a report while it keeps running.
    const crashHook = join(scratch, 'crash-hook.mjs');
    writeFileSync(
      crashHook,
      "process.on('SIGHUP', () => setImmediate(() => { throw new Error('injected uncaught exception (canary test)'); }));\n",
    );
    const gatehouse = await startGatehouse({
      nodeArgs: [
        '--report-on-signal',
        '--report-uncaught-exception',
        '--report-on-fatalerror',
        `--report-directory=${reportsDir}`,
        `--import=${crashHook}`,
      ],
      // Failed logins are made on purpose; lockout is tested elsewhere.
      config: { log: { level: 'trace' }, auth: { lockout: { threshold: 100 } } },
    });
    cleanups.push(async () => await gatehouse[Symbol.asyncDispose]());
    const alice = await createSshKeyPair({ type: 'ed25519', comment: 'alice@laptop' });
    cleanups.push(async () => await alice[Symbol.asyncDispose]());

    const outputs: Haystack[] = [];
    const generated: Canary[] = [];
    const adminPassword = /admin password[^:]*: (\S+)/.exec(gatehouse.initOutput)?.[1];
    if (adminPassword === undefined)
      throw new Error(`no admin password in:\n${gatehouse.initOutput}`);
    generated.push({ name: 'admin-password', value: Buffer.from(adminPassword) });
    const note = (where: string, text: string): void => {
      outputs.push(textHaystack(where, text));
    };
    const cli: CanaryWorld['cli'] = async (args, options = {}) => {
      const result = await runGatehouse(args, {
        env: { GATEHOUSE_CONFIG: gatehouse.configPath },
        ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
        timeoutMs: 60_000,
      });
      const where = `cli:gatehouse ${args.join(' ')}`;
      note(`${where} (argv)`, args.join('\0'));
      if (options.isSecretOutput !== true) note(`${where} (stdout)`, result.stdout);
      note(`${where} (stderr)`, result.stderr);
      if (result.code !== 0 && options.mayFail !== true)
        throw new Error(`${where} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
      return result;
    };
    const client: CanaryWorld['client'] = async (file, args, options = {}) => {
      const result = await runClient(file, args, {
        ...options,
        timeoutMs: options.timeoutMs ?? 60_000,
      });
      const where = `client:${file} ${args.join(' ')}`;
      note(`${where} (stdout)`, result.stdout);
      note(`${where} (stderr)`, result.stderr);
      return result;
    };

    // Identities, targets, credentials, grants. The CLI (a process each: slow on a loaded
    // machine) where a secret goes in through stdin or a file; the rest through the control
    // plane opened in this process on the same store, its log lines searched too.
    const cpLog = new PassThrough();
    let cpLogText = '';
    cpLog.on('data', (chunk: Buffer) => (cpLogText += chunk.toString()));
    const cp = await openControlPlane(loadConfig(gatehouse.configPath), {
      logger: createLogger({ level: 'trace', destination: cpLog }),
    });
    cleanups.push(() => cp.close());
    await cli(['user', 'add', 'alice', '--password-stdin', '--ssh-key', alice.publicPath], {
      stdin: `${canaryText(alicePassword)}\n`,
    });
    const by = { actor: 'canary-test' };
    const ssh = { kind: 'ssh', host: sshd.host, port: sshd.port, username: LEASED_ACCOUNT };
    const pgTarget = {
      kind: 'postgres',
      host: cluster.host,
      port: cluster.port,
      username: PG_ROLE,
      database: 'app',
    };
    const myTarget = {
      kind: 'mysql',
      host: mysqlAccount.host,
      port: mysqlAccount.port,
      username: mysqlAccount.user,
      database,
    };
    for (const [name, target] of [
      ['box-key', ssh],
      ['box-pw', ssh],
      ['box-wrong', ssh],
      ['orders-db', pgTarget],
      ['orders-wrong', pgTarget],
      ['orders-ro', { ...pgTarget, options: { readOnly: true } }],
      ['shop-db', myTarget],
      ['shop-wrong', myTarget],
      ['shop-ro', { ...myTarget, options: { readOnly: true } }],
    ] as const) {
      await cp.targets.add({ name, ...target }, by);
      await cp.grants.create(
        {
          subject: { kind: 'user', name: 'alice' },
          scope: { kind: 'target', name },
          durationMs: 2 * 3_600_000,
        },
        by,
      );
      if (target.kind === 'ssh')
        await cp.targets.pinHostKey(name, sshd.hostKeyLine, {
          ...by,
          fingerprint: sshd.hostKeyFingerprint,
        });
    }
    await cli(['credential', 'set', 'box-key', '--private-key', keyPath]);
    await cli(['credential', 'set', 'box-pw', '--password-stdin'], {
      stdin: `${canaryText(sshPassword)}\n`,
    });
    const password = (c: Canary) => ({ kind: 'password', password: Buffer.from(c.value) }) as const;
    await cp.credentials.set('box-wrong', password(secrets.sshWrongPassword), by);
    await cp.credentials.set('orders-db', password(pgPassword), by);
    await cp.credentials.set('orders-ro', password(pgPassword), by);
    await cp.credentials.set('shop-ro', password(mysqlPassword), by);
    await cp.credentials.set('shop-db', password(mysqlPassword), by);
    await cp.credentials.set('shop-wrong', password(secrets.mysqlWrongPassword), by);
    // orders-wrong gets its credential through the web API (test), like an admin in the console.
    // The key file is only the test's: Gatehouse keeps the envelope.
    rmSync(keyPath);

    const askpass = join(scratch, 'askpass.sh');
    writeFileSync(askpass, '#!/bin/sh\nexec cat "$CANARY_ASKPASS_FILE"\n', { mode: 0o700 });
    const caPath = join(gatehouse.dir, 'tls', 'ca.crt');
    const caPem = readFileSync(caPath, 'utf8');
    const sshCommon = [
      '-F',
      '/dev/null',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'IdentityAgent=none',
      '-o',
      'LogLevel=ERROR',
      '-o',
      'ConnectTimeout=20',
    ];
    let askpassFiles = 0;

    const world: CanaryWorld = {
      gatehouse,
      sshd,
      cluster,
      mysqlAccount,
      alice,
      secrets,
      generated,
      outputs,
      scratch,
      reportsDir,
      caPath,
      allCanaries: () => [
        ...(Object.values(secrets) as (Canary | readonly Canary[])[]).flat(),
        ...generated,
      ],
      controlPlaneLog: () => cpLogText,
      note,
      cli,
      client,
      sshKeyArgs: (o = {}) => [
        o.portFlag ?? '-p',
        String(gatehouse.sshPort),
        ...sshCommon,
        '-i',
        alice.privatePath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
      ],
      sshPasswordArgs: (secret, method = 'password') => {
        askpassFiles += 1;
        const file = join(scratch, `askpass-${askpassFiles}`);
        writeFileSync(file, `${canaryText(secret)}\n`, { mode: 0o600 });
        return {
          args: [
            '-p',
            String(gatehouse.sshPort),
            ...sshCommon,
            '-o',
            `PreferredAuthentications=${method}`,
            '-o',
            'PubkeyAuthentication=no',
            '-o',
            'NumberOfPasswordPrompts=1',
          ],
          env: {
            SSH_ASKPASS: askpass,
            SSH_ASKPASS_REQUIRE: 'force',
            CANARY_ASKPASS_FILE: file,
            DISPLAY: ':0',
          },
        };
      },
      pgConninfo: (login) =>
        pgConninfo({ port: gatehouse.pgPort, login, dbname: 'app', caPath, connectTimeoutS: 20 }),
      mariadbArgs: (login) =>
        mariadbArgs({ port: gatehouse.mysqlPort, login, caPath, connectTimeoutS: 20 }),
      pgClientConfig: (login, password) => ({
        host: '127.0.0.1',
        port: gatehouse.pgPort,
        user: login,
        password,
        database: 'app',
        ssl: { ca: caPem },
        connectionTimeoutMillis: 20_000,
      }),
      mysqlOptions: (login, password) => ({
        host: '127.0.0.1',
        port: gatehouse.mysqlPort,
        user: login,
        password,
        ssl: { ca: caPem },
        connectTimeout: 20_000,
      }),
      mysqlRoot,
      [Symbol.asyncDispose]: cleanUp,
    };
    return world;
  } catch (err) {
    await cleanUp();
    throw err;
  }
}

/** Runs psql (recorded) with the password in PGPASSWORD (never argv). */
export async function psql(
  world: CanaryWorld,
  login: string,
  password: string,
  options: { input?: string; args?: readonly string[]; env?: Record<string, string> } = {},
): Promise<ClientRun> {
  const args = ['-X', world.pgConninfo(login), ...(options.args ?? [])];
  const result = await runProcess('psql', args, {
    env: { PGPASSWORD: password, ...options.env },
    ...(options.input === undefined ? {} : { input: options.input }),
    timeoutMs: 60_000,
  });
  world.note(`client:psql ${args.join(' ')} (stdout)`, result.stdout);
  world.note(`client:psql ${args.join(' ')} (stderr)`, result.stderr);
  return { ...result, signal: null };
}

/** Runs the mariadb client (recorded) with the password in MYSQL_PWD (never argv). */
export function mariadb(
  world: CanaryWorld,
  login: string,
  password: string,
  args: readonly string[],
  input?: string,
): Promise<ClientRun> {
  return world.client('mariadb', [...world.mariadbArgs(login), ...args], {
    env: { MYSQL_PWD: password },
    ...(input === undefined ? {} : { input }),
  });
}

/** Creates SUDO_ACCOUNT with `password` and lets LEASED_ACCOUNT run anything as it, after typing that password. */
async function ensureSudoAccount(password: string): Promise<void> {
  try {
    await run('id', ['-u', SUDO_ACCOUNT]);
  } catch {
    await run('useradd', ['-M', '-s', '/bin/sh', SUDO_ACCOUNT]).catch(async (err: unknown) => {
      // Another run may have created it a moment ago.
      await run('id', ['-u', SUDO_ACCOUNT]).catch(() => {
        throw err;
      });
    });
  }
  await runWithInput('chpasswd', `${SUDO_ACCOUNT}:${password}\n`);
  const rules = [
    `Defaults:${LEASED_ACCOUNT} targetpw`,
    `Defaults:${LEASED_ACCOUNT} !lecture`,
    `Defaults:${LEASED_ACCOUNT} passwd_tries=1`,
    // Every sudo asks: a later session must not ride on an earlier one's cached credentials
    // (sudo's tty tickets can match when a pts number is reused).
    `Defaults:${LEASED_ACCOUNT} timestamp_timeout=0`,
    `${LEASED_ACCOUNT} ALL=(${SUDO_ACCOUNT}) ALL`,
    '',
  ].join('\n');
  writeFileSync(SUDOERS_FILE, rules, { mode: 0o440 });
  chmodSync(SUDOERS_FILE, 0o440);
  await run('visudo', ['-cf', SUDOERS_FILE]);
}

function runWithInput(file: string, input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, [], (err) => {
      if (err === null) resolve();
      else reject(new Error(`${file} failed: ${err.message}`));
    });
    child.stdin?.end(input);
  });
}
