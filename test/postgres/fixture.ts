import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { tailAudit } from '../../src/audit/index.js';
import { openControlPlane, type ControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { createTlsMaterial } from '../../src/tls/certificates.js';
import { startGatehouse, type RunningGatehouse } from '../support/gatehouse.js';
import type { AuditLine } from '../support/gatehouse-store.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { pgConninfo } from '../support/pg-conninfo.js';
import { runProcess } from '../support/process.js';
import { recordingFiles } from '../support/recording-files.js';

export { runProcess, type AuditLine };

/** Alice's Gatehouse password (her SCRAM verifier is derived from it). */
export const ALICE_PASSWORD = 'alice-Gatehouse-pw-1';
/** The leased account's password: only Gatehouse (and the cluster) know it. */
export const LEASED_PASSWORD = `leased-${randomBytes(6).toString('hex')}`;
/** The leased role on the target. */
export const LEASED_ROLE = 'leased';

/** What a `psql` run printed. */
export interface PsqlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Gatehouse in front of a throwaway SCRAM-only PostgreSQL cluster: alice may reach `orders-db`
 * (database `app`, leased role `leased`), `orders-ro` (the same, read-only) and `down-db`
 * (nothing listens there); `hidden-db` exists but she has no grant.
 */
export interface PgWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly cluster: PgCluster;
  /**
   * The control plane of the running setup, opened in the test process on the same store (as a
   * second `gatehouse` CLI would): setup and checks without a CLI process per step.
   */
  readonly cp: ControlPlane;
  /** A personal access token of bob (who has no password). */
  readonly bobToken: string;
  /** The CA of the target's own TLS certificate (targets `orders-tls` verify with it). */
  readonly upstreamCaPath: string;
  /** The init CA certificate path and PEM (for sslrootcert / `ssl.ca`). */
  readonly caPath: string;
  readonly caPem: string;
  /** pg client options through Gatehouse as `login` (default `alice#orders-db`). */
  clientConfig(extra?: pg.ClientConfig & { login?: string }): pg.ClientConfig;
  /** Connects a pg Client through Gatehouse. */
  connect(extra?: pg.ClientConfig & { login?: string }): Promise<pg.Client>;
  /** Runs `psql` through Gatehouse with a libpq connection string (PGPASSWORD from `password`). */
  psql(
    args: readonly string[],
    options?: {
      login?: string;
      password?: string;
      sslmode?: string;
      input?: string;
      env?: Record<string, string>;
      conninfo?: string;
      timeoutMs?: number;
    },
  ): Promise<PsqlResult>;
  /** The libpq connection string for `login` (no password). */
  conninfo(options?: { login?: string; sslmode?: string; dbname?: string }): string;
  /** Runs SQL on the target's `app` database as the cluster's superuser (setup and checks). */
  superQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  auditEvents(n?: number): Promise<AuditLine[]>;
  /** Transcript files under the data dir. */
  transcriptFiles(): string[];
}

/** Starts the cluster and Gatehouse with targets, credentials and grants. */
export async function startPgWorld(
  options: { readonly clusterSettings?: Readonly<Record<string, string>> } = {},
): Promise<PgWorld> {
  const upstreamTls = await makeUpstreamTls();
  const [cluster, gatehouse] = await Promise.all([
    startPgCluster({
      superPassword: `super-${randomBytes(6).toString('hex')}`,
      settings: {
        ...options.clusterSettings,
        ssl: 'on',
        ssl_cert_file: upstreamTls.certPath,
        ssl_key_file: upstreamTls.keyPath,
      },
    }),
    startGatehouse(),
  ]);
  const superClient = new pg.Client({ connectionString: cluster.url });
  await superClient.connect();
  await superClient.query(`CREATE ROLE ${LEASED_ROLE} LOGIN PASSWORD '${LEASED_PASSWORD}'`);
  await superClient.query(`CREATE DATABASE app OWNER ${LEASED_ROLE}`);
  await superClient.end();
  // From here on the superuser works in `app` (roles are cluster-wide anyway).
  const appSuper = new pg.Client({ connectionString: cluster.url.replace(/\/postgres$/, '/app') });
  await appSuper.connect();
  await appSuper.query(`SET ROLE ${LEASED_ROLE}`);
  await appSuper.query(
    'CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL)',
  );
  await appSuper.query(
    "INSERT INTO orders SELECT g, 'item-' || g, g % 7 FROM generate_series(1, 100) g",
  );
  await appSuper.query('CREATE TABLE copied (id int, note text)');
  await appSuper.query('CREATE SEQUENCE seq');
  await appSuper.query('RESET ROLE');

  const cp = await openControlPlane(loadConfig(gatehouse.configPath), {
    logger: createLogger({ level: 'silent' }),
  });
  const by = { actor: 'test' };
  await cp.users.add('alice', { ...by, password: ALICE_PASSWORD });
  await cp.users.add('bob', by); // no password: tokens only
  const bobToken = (await cp.tokens.create('bob', { ...by, expiresAt: Date.now() + 3_600_000 }))
    .secret;
  const target = {
    kind: 'postgres',
    host: cluster.host,
    port: cluster.port,
    username: LEASED_ROLE,
    database: 'app',
  };
  await cp.targets.add({ name: 'orders-db', ...target }, by);
  await cp.targets.add({ name: 'orders-ro', ...target, options: { readOnly: true } }, by);
  await cp.targets.add({ name: 'down-db', ...target, port: 1 }, by);
  await cp.targets.add({ name: 'hidden-db', ...target }, by);
  await cp.targets.add(
    { name: 'web-1', kind: 'ssh', host: '127.0.0.1', port: 22, username: 'x' },
    by,
  );
  // The target's certificate checked against its CA, and against a CA that did not sign it.
  writeFileSync(
    join(gatehouse.dir, 'tls', 'orders-upstream-ca.crt'),
    readFileSync(upstreamTls.caPath),
  );
  await cp.targets.add(
    {
      name: 'orders-tls',
      ...target,
      labels: { sslmode: 'verify-full', sslrootcert: 'tls/orders-upstream-ca.crt' },
    },
    by,
  );
  await cp.targets.add(
    {
      name: 'orders-badca',
      ...target,
      labels: { sslmode: 'verify-full', sslrootcert: 'tls/ca.crt' },
    },
    by,
  );
  for (const name of [
    'orders-db',
    'orders-ro',
    'down-db',
    'hidden-db',
    'orders-tls',
    'orders-badca',
  ])
    await cp.credentials.set(
      name,
      { kind: 'password', password: Buffer.from(LEASED_PASSWORD) },
      by,
    );
  for (const name of ['orders-db', 'orders-ro', 'down-db', 'web-1', 'orders-tls', 'orders-badca'])
    await cp.grants.create(
      {
        subject: { kind: 'user', name: 'alice' },
        scope: { kind: 'target', name },
        durationMs: 3_600_000,
      },
      by,
    );
  await cp.grants.create(
    {
      subject: { kind: 'user', name: 'bob' },
      scope: { kind: 'target', name: 'orders-db' },
      durationMs: 3_600_000,
    },
    by,
  );
  const caPath = join(gatehouse.dir, 'tls', 'ca.crt');
  const caPem = readFileSync(caPath, 'utf8');
  const clientConfig = (extra: pg.ClientConfig & { login?: string } = {}): pg.ClientConfig => {
    const { login, ...rest } = extra;
    return {
      host: '127.0.0.1',
      port: gatehouse.pgPort,
      user: login ?? 'alice#orders-db',
      password: ALICE_PASSWORD,
      database: 'app',
      ssl: { ca: caPem },
      connectionTimeoutMillis: 10_000,
      ...rest,
    };
  };
  const conninfo = (o: { login?: string; sslmode?: string; dbname?: string } = {}): string =>
    pgConninfo({
      port: gatehouse.pgPort,
      login: o.login ?? 'alice#orders-db',
      dbname: o.dbname ?? 'app',
      sslmode: o.sslmode,
      caPath,
    });
  return {
    gatehouse,
    cluster,
    cp,
    bobToken,
    upstreamCaPath: upstreamTls.caPath,
    caPath,
    caPem,
    clientConfig,
    connect: async (extra) => {
      const client = new pg.Client(clientConfig(extra));
      await client.connect();
      return client;
    },
    conninfo,
    psql: (args, o = {}) =>
      runProcess('psql', ['-X', '-v', 'ON_ERROR_STOP=1', o.conninfo ?? conninfo(o), ...args], {
        env: { PGPASSWORD: o.password ?? ALICE_PASSWORD, PGCONNECT_TIMEOUT: '10', ...o.env },
        ...(o.input === undefined ? {} : { input: o.input }),
        timeoutMs: o.timeoutMs ?? 30_000,
      }),
    superQuery: <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) =>
      appSuper.query<R>(sql, values),
    auditEvents: async (n = 5000) => await tailAudit(cp.store.db, { limit: n }),
    transcriptFiles: () => recordingFiles(gatehouse.dir, '.db.ndjson'),
    [Symbol.asyncDispose]: async () => {
      await appSuper.end().catch(() => undefined);
      await cp.close();
      await gatehouse[Symbol.asyncDispose]();
      await cluster.stop();
      rmSync(upstreamTls.dir, { recursive: true, force: true });
    },
  };
}

/**
 * A certificate for the throwaway cluster (127.0.0.1, localhost) from its own CA. The server
 * runs as `postgres` when the tests run as root: the files must be that user's, key 0600.
 */
async function makeUpstreamTls(): Promise<{
  dir: string;
  certPath: string;
  keyPath: string;
  caPath: string;
}> {
  const material = await createTlsMaterial({ names: ['127.0.0.1', 'localhost'] });
  const dir = mkdtempSync(join(tmpdir(), 'gh-pg-tls-'));
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  const caPath = join(dir, 'ca.crt');
  writeFileSync(certPath, material.server.certPem);
  writeFileSync(keyPath, material.server.keyPem, { mode: 0o600 });
  writeFileSync(caPath, material.ca.certPem);
  chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const path of [certPath, keyPath]) chownSync(path, uid, gid);
  }
  return { dir, certPath, keyPath, caPath };
}

/** Waits until `check` holds (polling), or throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
