/**
 * Records the fuzz corpus from real clients (`npm run fuzz:capture`; needs PostgreSQL,
 * MariaDB, psql, mariadb and OpenSSH's sftp-server as the test suite does):
 *
 * - pg: psql and node-postgres sessions through a running Gatehouse (plaintext allowed for
 *   the capture), recorded by a TCP relay in front of its PostgreSQL port; a cancel request;
 *   psql's SSLRequest and TLS ClientHello; psql's answer to a cleartext-password request.
 * - mysql: the mariadb CLI and mysql2 (queries, prepared statements of many types) through
 *   Gatehouse's MySQL port, recorded the same way.
 * - sftp: the OpenSSH sftp ↔ sftp-server capture of src/ssh/sftp/fixtures.
 * - asciicast: recordings the real AsciicastWriter made of a bash session in a pty.
 * - config: gatehouse.yaml files made by `gatehouse init`.
 * - ssh-login: the login names and exec commands of every addressing form in docs/ssh.md.
 *
 * Run: node bench/launch.mjs fuzz/capture.ts [target...]
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { openControlPlane } from '../src/cli/context.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';
import { AsciicastWriter } from '../src/recording/asciicast-writer.js';
import { gatehouseOk } from '../test/support/cli.js';
import { startGatehouse, type RunningGatehouse } from '../test/support/gatehouse.js';
import { createMariadbDatabaseAccount } from '../test/support/mariadb-account.js';
import { ALICE_PASSWORD as MY_PASSWORD } from '../test/mysql/fixture.js';
import {
  ALICE_PASSWORD as PG_PASSWORD,
  runProcess,
  startPgWorld,
} from '../test/postgres/fixture.js';
import { CORPUS_DIR } from './lib/engine.js';
import { writeInput, type Segment } from './lib/input.js';

/** A TCP relay that keeps what each connection carried, both ways, chunk by chunk. */
interface Recorder {
  readonly port: number;
  /** One list of segments per connection, in accept order. */
  readonly sessions: Segment[][];
  close(): Promise<void>;
}

async function startRecorder(targetPort: number): Promise<Recorder> {
  const sessions: Segment[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const segments: Segment[] = [];
    sessions.push(segments);
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
    }
    client.on('data', (d: Buffer) => {
      segments.push({ dir: 'c', data: Buffer.from(d) });
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      segments.push({ dir: 's', data: Buffer.from(d) });
      client.write(d);
    });
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Lets the server accept plaintext clients (the capture must see the bytes), then restarts it. */
async function allowPlaintext(
  gatehouse: RunningGatehouse,
  section: 'postgres' | 'mysql',
): Promise<void> {
  await gatehouse.stop();
  const config = parseYaml(readFileSync(gatehouse.configPath, 'utf8')) as Record<
    string,
    Record<string, unknown> | undefined
  >;
  config[section] = { ...config[section], allowPlaintext: true };
  writeFileSync(gatehouse.configPath, stringifyYaml(config));
  await gatehouse.restart();
}

function save(
  target: string,
  name: string,
  segments: readonly Segment[],
  options: { variant?: number; note: string },
): void {
  const merged = segments.filter((s) => s.data.length > 0);
  writeInput(
    join(CORPUS_DIR, target, `${name}.json`),
    { segments: merged, variant: options.variant ?? 0 },
    { target, note: options.note },
  );
  const bytes = merged.reduce((n, s) => n + s.data.length, 0);
  process.stdout.write(`  ${target}/${name}.json: ${merged.length} segments, ${bytes} bytes\n`);
}

async function capturePg(): Promise<void> {
  const world = await startPgWorld();
  try {
    await capturePgIn(world);
  } finally {
    await world[Symbol.asyncDispose]();
  }
}

async function capturePgIn(world: Awaited<ReturnType<typeof startPgWorld>>): Promise<void> {
  await allowPlaintext(world.gatehouse, 'postgres');
  const rec = await startRecorder(world.gatehouse.pgPort);
  const conninfo = (login: string, sslmode: string): string =>
    `host=127.0.0.1 port=${rec.port} user=${login} dbname=app sslmode=${sslmode}`;
  const psql = (
    login: string,
    input: string,
    extra: { sslmode?: string; env?: Record<string, string> } = {},
  ) =>
    runProcess('psql', ['-X', conninfo(login, extra.sslmode ?? 'disable')], {
      env: { PGPASSWORD: PG_PASSWORD, PGAPPNAME: 'fuzz-capture', ...extra.env },
      input,
      timeoutMs: 30_000,
    });
  const sessionsBefore = (): number => rec.sessions.length;

  let n = sessionsBefore();
  let r = await psql(
    'alice#orders-db',
    [
      'SELECT id, item FROM orders WHERE id < 4;',
      'BEGIN;',
      "INSERT INTO orders VALUES (1001, 'fuzz', 1);",
      'SELECT 1; SELECT 2;',
      'ROLLBACK;',
      'SELEC oops;',
      'PREPARE q(int) AS SELECT item FROM orders WHERE id = $1; EXECUTE q(2); DEALLOCATE q;',
      'COPY copied FROM STDIN;',
      '1\tone',
      '2\ttwo',
      '\\.',
      '\\d orders',
      "SELECT repeat('x', 3000) AS long;",
      '',
    ].join('\n'),
    { env: { PGOPTIONS: '-c statement_timeout=5000 -c search_path=public' } },
  );
  process.stdout.write(`psql session: exit ${r.code} ${r.stderr.slice(0, 200)}\n`);
  save('pg', 'psql-session', rec.sessions[n] ?? [], {
    note: 'psql 15, simple query protocol, SCRAM login, COPY FROM STDIN, \\d',
  });

  n = sessionsBefore();
  r = await psql(
    'alice#orders-ro',
    'SELECT count(*) FROM orders;\nDELETE FROM orders;\nBEGIN READ ONLY;\nSELECT 1;\nCOMMIT;\n',
  );
  process.stdout.write(`psql read-only: exit ${r.code}\n`);
  save('pg', 'psql-read-only', rec.sessions[n] ?? [], {
    variant: 1,
    note: 'psql on a read-only target: a DELETE refused',
  });

  // The driver: extended query protocol, named statements, NULL and bytea parameters, an error, a cancel.
  n = sessionsBefore();
  const driverLogin: pg.ClientConfig = {
    host: '127.0.0.1',
    port: rec.port,
    user: 'alice#orders-db',
    password: PG_PASSWORD,
    database: 'app',
    ssl: false,
  };
  const client = new pg.Client({ ...driverLogin, application_name: 'fuzz-driver' });
  await client.connect();
  await client.query('SELECT $1::int + $2::int AS sum, $3::text AS t, $4::bytea AS b', [
    1,
    2,
    null,
    Buffer.from([0, 1, 2, 255]),
  ]);
  await client.query({ name: 'by-id', text: 'SELECT * FROM orders WHERE id = $1', values: [5] });
  await client.query({ name: 'by-id', text: 'SELECT * FROM orders WHERE id = $1', values: [6] });
  await client.query({
    text: 'SELECT item FROM orders ORDER BY id LIMIT $1',
    values: [3],
    rowMode: 'array',
  });
  await client.query('SELECT nosuchcolumn FROM orders WHERE id = $1', [1]).catch(() => undefined);
  await client.query('INSERT INTO copied VALUES ($1, $2)', [7, 'seven'.repeat(20)]);
  const slow = client.query('SELECT pg_sleep(3)').catch(() => undefined);
  await sleep(500);
  const canceller = new pg.Client(driverLogin);
  const cancelAt = rec.sessions.length;
  (canceller as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(
    client,
    (client as unknown as { activeQuery: unknown }).activeQuery,
  );
  await slow;
  await client.end();
  await sleep(300);
  save('pg', 'node-postgres-extended', rec.sessions[n] ?? [], {
    note: 'node-postgres 8: Parse/Bind/Describe/Execute/Sync, named statements, NULL/bytea, an error',
  });
  save('pg', 'cancel-request', rec.sessions[cancelAt] ?? [], {
    note: 'node-postgres CancelRequest',
  });

  // psql with sslmode=require: the SSLRequest, then its TLS ClientHello (after the gateway said S).
  n = sessionsBefore();
  await psql('alice#orders-db', 'SELECT 1;\n', { sslmode: 'require' });
  save('pg', 'ssl-request', (rec.sessions[n] ?? []).filter((s) => s.dir === 'c').slice(0, 2), {
    note: 'psql sslmode=require: SSLRequest and TLS ClientHello',
  });

  // A token login asked for with -c gatehouse.auth=token needs TLS: recorded up to the refusal.
  n = sessionsBefore();
  await psql('bob#orders-db', 'SELECT 1;\n', {
    env: { PGOPTIONS: '-c gatehouse.auth=token', PGPASSWORD: world.bobToken },
  });
  save('pg', 'token-startup', rec.sessions[n] ?? [], {
    note: 'psql with PGOPTIONS=-c gatehouse.auth=token (refused without TLS)',
  });
  await rec.close();

  // psql's PasswordMessage: a stub server asks for a cleartext password (what Gatehouse does for tokens).
  const cleartext = await captureCleartextPassword(world.bobToken);
  save('pg', 'cleartext-password', cleartext, {
    note: 'psql answering AuthenticationCleartextPassword with a token',
  });
}

/** A stub that asks psql for a cleartext password and records its StartupMessage and PasswordMessage. */
async function captureCleartextPassword(token: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  const server = createServer((socket) => {
    let stage = 0;
    socket.on('data', (d: Buffer) => {
      segments.push({ dir: 'c', data: Buffer.from(d) });
      if (stage === 0) {
        const answer = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]);
        segments.push({ dir: 's', data: answer });
        socket.write(answer);
        stage = 1;
      } else socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await runProcess(
    'psql',
    [
      '-X',
      `host=127.0.0.1 port=${port} user=bob#orders-db dbname=app sslmode=disable options='-c gatehouse.auth=token'`,
      '-c',
      'SELECT 1',
    ],
    { env: { PGPASSWORD: token }, timeoutMs: 10_000 },
  );
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return segments;
}

/** Gatehouse in front of the machine's MariaDB, set up through the control plane in-process
 * (the test fixture's parallel CLI calls time out on a loaded machine). */
async function captureMysql(): Promise<void> {
  const password = `leased-${randomBytes(6).toString('hex')}`;
  const account = await createMariadbDatabaseAccount({ password, prefix: 'gh_fz_' });
  const { database } = account;
  let gatehouse: RunningGatehouse | undefined;
  try {
    gatehouse = await startGatehouse();
    const cp = await openControlPlane(loadConfig(gatehouse.configPath), {
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const by = { actor: 'fuzz-capture' };
      await cp.users.add('alice', { ...by, password: MY_PASSWORD });
      const target = {
        kind: 'mysql',
        host: account.host,
        port: account.port,
        username: account.user,
        database,
      };
      await cp.targets.add({ name: 'shop-db', ...target }, by);
      await cp.targets.add({ name: 'shop-ro', ...target, options: { readOnly: true } }, by);
      for (const name of ['shop-db', 'shop-ro']) {
        await cp.credentials.set(name, { kind: 'password', password: Buffer.from(password) }, by);
        await cp.grants.create(
          {
            subject: { kind: 'user', name: 'alice' },
            scope: { kind: 'target', name },
            durationMs: 3_600_000,
          },
          by,
        );
      }
    } finally {
      await cp.close();
    }
    await allowPlaintext(gatehouse, 'mysql');
    await captureMysqlIn({ gatehouse, database });
  } finally {
    await gatehouse?.[Symbol.asyncDispose]();
    await account.drop();
  }
}

async function captureMysqlIn(world: {
  gatehouse: RunningGatehouse;
  database: string;
}): Promise<void> {
  const rec = await startRecorder(world.gatehouse.mysqlPort);
  const base = {
    host: '127.0.0.1',
    port: rec.port,
    user: 'alice#shop-db',
    password: MY_PASSWORD,
    database: world.database,
  };

  let n = rec.sessions.length;
  const c = await mysql.createConnection({ ...base, multipleStatements: true });
  await c.query(
    'CREATE TABLE IF NOT EXISTS things (id INT PRIMARY KEY, name VARCHAR(64), price DOUBLE, at DATETIME, blob_col BLOB, big BIGINT UNSIGNED, d DATE, t TIME)',
  );
  await c.query('SELECT 1 AS one; SELECT 2 AS two');
  await c.execute('INSERT INTO things VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
    1,
    'first',
    1.5,
    new Date('2026-01-02T03:04:05.678Z'),
    Buffer.from([0, 1, 2, 0xff]),
    '18446744073709551615',
    '2026-01-02',
    '-838:59:59',
  ]);
  await c.execute('INSERT INTO things VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
    2,
    null,
    -0.25,
    null,
    null,
    5,
    null,
    null,
  ]);
  await c.execute('SELECT * FROM things WHERE id = ? OR name = ?', [1, 'first']);
  await c.execute('SELECT * FROM things WHERE id = ? OR name = ?', [2, 'x'.repeat(300)]);
  const stmt = await c.prepare('UPDATE things SET name = ? WHERE id = ?');
  await stmt.execute(['renamed', 1]);
  await stmt.close();
  await c.query('SELECT nosuch FROM things').catch(() => undefined);
  await c.ping();
  await c.query('DROP TABLE things');
  await c.end();
  save('mysql', 'mysql2-session', rec.sessions[n] ?? [], {
    note: 'mysql2 without TLS: caching_sha2 with RSA, multi-statements, prepared statements of many types, ping',
  });

  n = rec.sessions.length;
  const ro = await mysql.createConnection({ ...base, user: 'alice#shop-ro' });
  await ro.query('SELECT 1');
  await ro.query('DELETE FROM nothing').catch(() => undefined);
  await ro.execute('SELECT ? AS x', [42]);
  await ro.end();
  save('mysql', 'mysql2-read-only', rec.sessions[n] ?? [], {
    variant: 2,
    note: 'mysql2 on a read-only target: a DELETE refused',
  });

  n = rec.sessions.length;
  const cli = await runProcess(
    'mariadb',
    [
      '--skip-ssl',
      '-h',
      '127.0.0.1',
      '-P',
      String(rec.port),
      '-u',
      'alice#shop-db',
      world.database,
    ],
    {
      env: { MYSQL_PWD: MY_PASSWORD },
      input:
        'SELECT 1;\nSHOW TABLES;\nSELECT @@version_comment LIMIT 1;\nSELECT * FROM nosuch;\nUSE information_schema;\nSELECT COUNT(*) FROM TABLES;\n',
      timeoutMs: 30_000,
    },
  );
  process.stdout.write(`mariadb cli: exit ${cli.code} ${cli.stderr.slice(0, 300)}\n`);
  save('mysql', 'mariadb-cli', rec.sessions[n] ?? [], {
    note: 'mariadb CLI --skip-ssl: login, queries, USE',
  });
  await rec.close();
}

function captureSftp(): void {
  const dir = new URL('../src/ssh/sftp/fixtures/', import.meta.url);
  const c2s = readFileSync(new URL('openssh-session.c2s.bin', dir));
  const s2c = readFileSync(new URL('openssh-session.s2c.bin', dir));
  // Requests then replies, each in 4 KiB chunks as an SSH channel would deliver them.
  const chunks = (b: Buffer, dir: 'c' | 's'): Segment[] => {
    const out: Segment[] = [];
    for (let i = 0; i < b.length; i += 4096) out.push({ dir, data: b.subarray(i, i + 4096) });
    return out;
  };
  save('sftp', 'openssh-session', [...chunks(c2s, 'c'), ...chunks(s2c, 's')], {
    note: 'OpenSSH sftp batch against sftp-server (src/ssh/sftp/fixtures)',
  });
}

async function captureAsciicast(): Promise<void> {
  const { spawn: spawnPty } = await import('node-pty');
  const dir = mkdtempSync(join(tmpdir(), 'gh-fuzz-cast-'));
  try {
    const writer = await AsciicastWriter.create(
      dir,
      {
        sid: 'ses_fuzzcapture',
        channel: 0,
        user: 'alice',
        target: 'web-1',
        term: { cols: 80, rows: 24 },
        title: 'fuzz capture',
      },
      { flushIntervalMs: 50 },
    );
    const term = spawnPty('bash', ['--norc', '--noprofile', '-i'], {
      name: 'xterm-256color',
      cols: 80,
      rows: 24,
      cwd: dir,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        PS1: '$ ',
        TERM: 'xterm-256color',
        LANG: 'C.UTF-8',
      },
    });
    term.onData((d) => writer.output(Buffer.from(d, 'utf8')));
    const exited = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    const type = async (text: string): Promise<void> => {
      writer.input(Buffer.from(text, 'utf8'));
      term.write(text);
      await sleep(300);
    };
    await sleep(300);
    await type('echo héllo wörld ✓\r');
    await type('ls --color=always -la /etc | head -5\r');
    await type('printf "\\033[1;31mred\\033[0m\\ttab\\n"\r');
    term.resize(100, 30);
    writer.resize(100, 30);
    await type('seq 1 40\r');
    writer.marker('checkpoint');
    await type('exit 3\r');
    const code = await exited;
    writer.exit(code);
    const result = await writer.close();
    const bytes = readFileSync(result.path);
    save('asciicast', 'bash-session', [{ dir: 'c', data: bytes }], {
      note: 'AsciicastWriter recording of bash in a pty: UTF-8, colours, resize, marker, exit',
    });
    // The same file as a reader sees it from disk in 64 KiB reads, and cut mid-line (a crash).
    const cut = bytes.subarray(0, bytes.lastIndexOf(0x0a, bytes.length - 2) + 12);
    save('asciicast', 'bash-session-cut', [{ dir: 'c', data: cut }], {
      note: 'the same recording cut mid-line, as a crash leaves it',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function captureConfig(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-fuzz-config-'));
  try {
    await gatehouseOk(['init', '--data-dir', join(dir, 'a')]);
    save(
      'config',
      'init-default',
      [{ dir: 'c', data: readFileSync(join(dir, 'a', 'gatehouse.yaml')) }],
      { note: 'gatehouse init' },
    );
    await gatehouseOk([
      'init',
      '--data-dir',
      join(dir, 'b'),
      '--listen-host',
      '127.0.0.1',
      '--ssh-port',
      '2022',
      '--web-port',
      '8443',
      '--mysql-port',
      '3307',
      '--pg-port',
      '5433',
    ]);
    const config = parseYaml(readFileSync(join(dir, 'b', 'gatehouse.yaml'), 'utf8')) as Record<
      string,
      Record<string, unknown> | undefined
    >;
    config['postgres'] = {
      ...config['postgres'],
      allowPlaintext: true,
      targetPorts: { 'orders-db': 15433 },
    };
    config['mysql'] = { ...config['mysql'], allowPlaintext: true };
    save('config', 'init-ports-edited', [{ dir: 'c', data: Buffer.from(stringifyYaml(config)) }], {
      note: 'gatehouse init with ports, then edited (plaintext, a target port)',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function captureSshLogin(): void {
  // Every addressing form of docs/ssh.md, and the database login names of docs/postgres.md and docs/mysql.md.
  const forms: [string, string, string][] = [
    ['menu', 'alice', ''],
    ['exec-target', 'alice', 'web-1 uptime -p'],
    ['exec-shell', 'alice', 'web-1'],
    ['plus-target', 'alice+web-1', 'scp -t /tmp/'],
    ['colon-target', 'alice:web-1', 'rsync --server -logDtpre.iLsfxCIvu . dir/'],
    ['git', 'alice+web-1', "git-upload-pack '/home/deploy/repo.git'"],
    ['db-login', 'alice#orders-db', ''],
  ];
  for (const [name, login, command] of forms) {
    const segments: Segment[] = [{ dir: 'c', data: Buffer.from(login) }];
    if (command !== '') segments.push({ dir: 'c', data: Buffer.from(command) });
    save('ssh-login', name, segments, { note: `ssh ${login}@bastion ${command}`.trim() });
  }
}

const CAPTURES: Record<string, () => Promise<void> | void> = {
  pg: capturePg,
  mysql: captureMysql,
  sftp: captureSftp,
  asciicast: captureAsciicast,
  config: captureConfig,
  'ssh-login': captureSshLogin,
};

const wanted = process.argv.slice(3);
for (const [name, capture] of Object.entries(CAPTURES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stdout.write(`capturing ${name}\n`);
  await capture();
}
process.exit(0);
