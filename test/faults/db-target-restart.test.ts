import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMariadbAccount,
  TEST_MYSQL_URL,
  type MariadbAccount,
} from '../support/mariadb-account.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { eventually, waitClosedRecord, startFaultWorld, type FaultWorld } from './world.js';

const LEASED_PASSWORD = `leased-${randomBytes(6).toString('hex')}`;

// A database target goes away under a live session: PostgreSQL restarted (a throwaway cluster
// stopped and started), a PostgreSQL backend killed (the server's crash recovery), a MariaDB
// connection killed with `KILL <id>` (the machine's shared server cannot be restarted). The
// client is told, the transcript is complete and readable, the session ends `failed`, the
// lease is released, and a new session works once the target is back.
describe('faults: database target restarted mid-session', () => {
  let world: FaultWorld;
  let cluster: PgCluster;
  let account: MariadbAccount;
  let root: mysql.Connection;
  const database = `gh_faults_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    [world, cluster, account] = await Promise.all([
      startFaultWorld(),
      startPgCluster({ superPassword: `super-${randomBytes(6).toString('hex')}` }),
      createMariadbAccount({ password: LEASED_PASSWORD, prefix: 'gh_flt_' }),
    ]);
    const superClient = new pg.Client({ connectionString: cluster.url });
    await superClient.connect();
    await superClient.query(`CREATE ROLE leased LOGIN PASSWORD '${LEASED_PASSWORD}'`);
    await superClient.query('CREATE DATABASE app OWNER leased');
    await superClient.end();
    root = await mysql.createConnection({ uri: TEST_MYSQL_URL });
    await root.query(`CREATE DATABASE \`${database}\``);
    const [hosts] = await root.query<mysql.RowDataPacket[]>(
      'SELECT Host AS host FROM mysql.user WHERE User = ?',
      [account.user],
    );
    for (const { host } of hosts)
      await root.query(`GRANT ALL ON \`${database}\`.* TO ?@?`, [account.user, host]);
    await world.addDbTarget('orders', {
      kind: 'postgres',
      host: cluster.host,
      port: cluster.port,
      username: 'leased',
      password: LEASED_PASSWORD,
      database: 'app',
    });
    await world.addDbTarget('shop', {
      kind: 'mysql',
      host: account.host,
      port: account.port,
      username: account.user,
      password: LEASED_PASSWORD,
      database,
    });
  }, 180_000);

  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
    await cluster?.stop();
    await root?.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
    await root?.end().catch(() => undefined);
    await account?.drop();
  });

  it('postgres-stopped-and-started-under-a-session-ends-it-failed-and-the-next-session-works', async () => {
    const client = world.pgClient('orders');
    const seen: string[] = [];
    client.on('error', (err) => seen.push(err.message));
    await client.connect();
    await client.query("select 'before-restart' as marker");
    const sid = await liveSid('orders');
    await cluster.pause({ mode: 'fast' });
    const failed = await client.query('select 1').then(
      () => undefined,
      (err: Error) => err.message,
    );
    await client.end().catch(() => undefined);
    // PostgreSQL's own shutdown notice (57P01) is relayed; Gatehouse's follows when none came.
    expect([...seen, failed].join('\n')).toMatch(
      /terminating connection due to administrator command|the connection to target "orders" was lost/,
    );
    await expectCutRecord(sid, 'before-restart');
    await cluster.resume();
    await expectNewPgSessionWorks();
  }, 180_000);

  it('a-postgres-backend-killed-under-a-session-tells-the-client-which-target-was-lost', async () => {
    const client = world.pgClient('orders');
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ pid: number }>(
      "select pg_backend_pid() as pid, 'before-kill' as marker",
    );
    const sid = await liveSid('orders');
    // SIGKILL: the backend says nothing; the postmaster then restarts every backend.
    execFileSync('kill', ['-KILL', String(rows[0]?.pid)]);
    const err = (await client.query('select 1').then(
      () => undefined,
      (e: unknown) => e,
    )) as { message?: string; code?: string } | undefined;
    await client.end().catch(() => undefined);
    expect(err?.message).toBe('the connection to target "orders" was lost');
    expect(err?.code).toBe('08006');
    await expectCutRecord(sid, 'before-kill');
    await expectNewPgSessionWorks();
  }, 180_000);

  it('a-mariadb-connection-killed-on-the-server-ends-the-session-failed-and-the-next-works', async () => {
    const conn = await world.mysqlConnect('shop');
    conn.on('error', () => undefined);
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "select connection_id() as id, 'before-kill' as marker",
    );
    const sid = await liveSid('shop');
    await root.query(`KILL ${Number(rows[0]?.['id'])}`);
    await expectCutRecord(sid, 'before-kill');
    // Gatehouse closed the client's connection (an ERR packet outside a command would
    // desynchronize the client): the driver knows it is gone.
    const failure = await conn.query('select 1').then(
      () => undefined,
      (e: Error) => e.message,
    );
    await conn.end().catch(() => undefined);
    expect(failure).toMatch(/closed state|Connection lost/);
    const again = await world.mariadb('shop', ['-N', '-e', "select 'shop-back'"]);
    expect(again.stderr).toBe('');
    expect(again.stdout.trim()).toBe('shop-back');
  }, 180_000);

  it('the-audit-chain-verifies-after-the-faults', async () => {
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);

  async function liveSid(target: string): Promise<string> {
    const row = await eventually(async () =>
      (await world.sessions()).find((s) => s.target === target && s.status === 'active'),
    );
    return row.sid;
  }

  async function expectNewPgSessionWorks(): Promise<void> {
    // Crash recovery and restarts take a moment: retry the login, not the assertion.
    const run = await eventually(
      async () => {
        const r = await world.psql('orders', ['-At', '-c', "select 'orders-back'"]);
        return r.code === 0 ? r : undefined;
      },
      { timeoutMs: 60_000, what: 'a new session on orders' },
    );
    expect(run.stdout.trim()).toBe('orders-back');
  }

  /** `failed` in the list and the chain, lease released, transcript complete up to the cut. */
  async function expectCutRecord(sid: string, marker: string): Promise<void> {
    const row = await eventually(async () =>
      (await world.sessions()).find((s) => s.sid === sid && s.status !== 'active'),
    );
    expect(row.status).toBe('failed');
    const end = await waitClosedRecord(world, sid, 'failed');
    expect(end.data['reason']).toMatch(/^target-(closed|error)$/);
    expect(row.recordings).toHaveLength(1);
    const lines = readFileSync(
      join(world.gatehouse.dir, 'recordings', row.recordings[0] ?? ''),
      'utf8',
    )
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(JSON.stringify(lines)).toContain(marker);
    expect(lines.at(-1)).toMatchObject({ type: 'end', status: 'failed' });
  }
});
