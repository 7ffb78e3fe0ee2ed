import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mariadbArgs } from '../support/mariadb-args.js';
import { startDbFaultWorld, type DbFaultWorld } from './db-world.js';
import { ALICE_PASSWORD, eventually, waitClosedRecord } from './world.js';

// A database target goes away under a live session: PostgreSQL restarted (a throwaway cluster
// stopped and started), a PostgreSQL backend killed (the server's crash recovery), a MariaDB
// connection killed with `KILL <id>` (the machine's shared server cannot be restarted). The
// client is told which target it lost (MySQL: at its next statement, where an ERR is valid),
// the transcript is complete and readable, the session ends `failed`, the
// lease is released, and a new session works once the target is back.
describe('faults: database target restarted mid-session', () => {
  let world: DbFaultWorld;

  beforeAll(async () => {
    world = await startDbFaultWorld({ cluster: 'orders', prefix: 'gh_flt_' });
  }, 180_000);

  afterAll(async () => {
    await world?.[Symbol.asyncDispose]();
  });

  it('postgres-stopped-and-started-under-a-session-ends-it-failed-and-the-next-session-works', async () => {
    const client = world.pgClient('orders');
    const seen: string[] = [];
    client.on('error', (err) => seen.push(err.message));
    await client.connect();
    await client.query("select 'before-restart' as marker");
    const sid = await world.liveSid('orders');
    await world.cluster.pause({ mode: 'fast' });
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
    await world.cluster.resume();
    await expectNewPgSessionWorks();
  }, 180_000);

  it('a-postgres-backend-killed-under-a-session-tells-the-client-which-target-was-lost', async () => {
    const client = world.pgClient('orders');
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ pid: number }>(
      "select pg_backend_pid() as pid, 'before-kill' as marker",
    );
    const sid = await world.liveSid('orders');
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

  it('a-mariadb-connection-killed-on-the-server-tells-mysql2-which-target-was-lost', async () => {
    const conn = await world.mysqlConnect('shop');
    const errors: string[] = [];
    conn.on('error', (err: Error) => errors.push(err.message));
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "select connection_id() as id, 'before-kill' as marker",
    );
    const sid = await world.liveSid('shop');
    await world.mariadbRoot.query(`KILL ${Number(rows[0]?.['id'])}`);
    await expectCutRecord(sid, 'before-kill');
    // No command was pending: Gatehouse's ERR (numbered as the answer to a next command) is
    // what the driver reads, at once, as the connection's error.
    await eventually(() => (errors.length > 0 ? true : undefined), { what: 'a mysql2 error' });
    expect(errors[0]).toBe('the connection to target "shop" was lost');
    const failure = await conn.query('select 1').then(
      () => undefined,
      (e: Error) => e.message,
    );
    await conn.end().catch(() => undefined);
    expect(failure).toMatch(/closed state/);
  }, 180_000);

  it('the-mariadb-client-hears-at-its-next-statement-which-target-was-lost-and-the-next-session-works', async () => {
    // A client that waits between statements, as a person at the prompt does.
    const cli = spawn(
      'mariadb',
      [
        ...mariadbArgs({
          port: world.gatehouse.mysqlPort,
          login: 'alice#shop',
          caPath: join(world.gatehouse.dir, 'tls', 'ca.crt'),
        }),
        '--unbuffered',
        '-N',
      ],
      { env: { ...process.env, MYSQL_PWD: ALICE_PASSWORD }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    cli.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    cli.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => cli.once('close', resolve));
    try {
      cli.stdin.write("select concat('id=', connection_id(), '=before-kill');\n");
      const id = await eventually(() => /id=(\d+)=before-kill/.exec(stdout)?.[1], {
        what: 'the mariadb connection id',
      });
      const sid = await world.liveSid('shop');
      await world.mariadbRoot.query(`KILL ${Number(id)}`);
      await expectCutRecord(sid, 'before-kill');
      cli.stdin.end("select 'after-kill';\n");
      expect(await exited).not.toBe(0);
    } finally {
      cli.kill('SIGKILL');
    }
    expect(stdout).not.toContain('after-kill');
    expect(stderr).toContain(
      'ERROR 1105 (08S01) at line 2: the connection to target "shop" was lost',
    );
    const again = await world.mariadb('shop', ['-N', '-e', "select 'shop-back'"]);
    expect(again.stderr).toBe('');
    expect(again.stdout.trim()).toBe('shop-back');
  }, 180_000);

  it('the-audit-chain-verifies-after-the-faults', async () => {
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);

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
