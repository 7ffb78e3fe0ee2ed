import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FRONTEND,
  serializeBind,
  serializeEmpty,
  serializeExecute,
  serializeParse,
  serializeQuery,
} from '../../src/db/postgres/protocol/index.js';
import { requestSessionKill } from '../../src/lease/session-watch.js';
import {
  ALICE_PASSWORD,
  eventually,
  LEASED_PASSWORD,
  LEASED_ROLE,
  startPgWorld,
  type AuditLine,
  type PgWorld,
} from './fixture.js';
import { errorText, RawPgClient } from './raw-client.js';
import { runProcess } from './fixture.js';

let world: PgWorld;
beforeAll(async () => {
  world = await startPgWorld();
}, 90_000);
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

const sync = (): Buffer => serializeEmpty(FRONTEND.sync);

/** The sid Gatehouse gave the session of `client` (from application_name on the target). */
async function sidOf(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ app: string }>(
    "select current_setting('application_name') as app",
  );
  const sid = /gatehouse:(ses_[0-9a-f]+)/.exec(rows[0]?.app ?? '')?.[1];
  if (sid === undefined) throw new Error('no session id');
  return sid;
}

async function eventsOf(sid: string, type?: string): Promise<AuditLine[]> {
  return (await world.auditEvents()).filter(
    (e) => e.sid === sid && (type === undefined || e.type === type),
  );
}

describe('read-only targets', () => {
  it('select-runs-and-insert-is-refused-with-42501-before-reaching-the-target', async () => {
    const client = await world.connect({ login: 'alice#orders-ro' });
    expect((await client.query('select count(*)::int as n from orders')).rows[0]).toEqual({
      n: 100,
    });
    const err = (await client
      .query("insert into orders values (5000, 'nope', 1)")
      .catch((e: unknown) => e)) as pg.DatabaseError;
    expect(err.code).toBe('42501');
    expect(err.message).toBe('target "orders-ro" is read-only');
    expect(err.detail).toBe('INSERT: writes or changes the database');
    expect(err.hint).toBe('only SELECT, SHOW, EXPLAIN and SET run on a read-only target');
    // Extended protocol too, and the session goes on.
    await expect(client.query('update orders set qty = $1', [0])).rejects.toMatchObject({
      code: '42501',
    });
    await expect(
      client.query('with d as (delete from orders returning *) select count(*) from d'),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(client.query('set default_transaction_read_only = off')).rejects.toMatchObject({
      code: '42501',
    });
    expect((await client.query('show default_transaction_read_only')).rows[0]).toEqual({
      default_transaction_read_only: 'on',
    });
    expect((await client.query('explain select * from orders')).rows.length).toBeGreaterThan(0);
    await client.query('begin');
    await expect(client.query("insert into orders values (5001, 'nope', 1)")).rejects.toMatchObject(
      { code: '42501' },
    );
    await client.query('rollback');
    const sid = await sidOf(client);
    await client.end();
    expect(
      (await world.superQuery('select count(*)::int as n from orders where id >= 5000')).rows,
    ).toEqual([{ n: 0 }]);
    // Statement events are committed in batches within a tenth of a second.
    await eventually(async () => (await eventsOf(sid, 'session.end'))[0]);
    const denied = await eventsOf(sid, 'db.denied');
    expect(denied.map((e) => e.data['what'])).toEqual([
      'INSERT',
      'UPDATE',
      'DELETE',
      'SET default_transaction_read_only',
      'INSERT',
    ]);
    expect(denied[0]).toMatchObject({
      user: 'alice',
      target: 'orders-ro',
      data: { reason: 'read-only', sql: "insert into orders values (5000, 'nope', 1)" },
    });
  });

  it('pg-dump-of-a-read-only-target-works', async () => {
    const dump = await runProcess(
      'pg_dump',
      ['-d', world.conninfo({ login: 'alice#orders-ro' }), '-t', 'orders'],
      { env: { PGPASSWORD: ALICE_PASSWORD } },
    );
    expect(dump.stderr).toBe('');
    expect(dump.stdout).toContain('COPY public.orders (id, item, qty) FROM stdin;');
    expect(dump.stdout).toContain('100\titem-100\t2');
  });

  it('a-refused-statement-in-a-pipeline-is-answered-in-its-place', async () => {
    const c = await RawPgClient.connect({
      port: world.gatehouse.pgPort,
      ca: world.caPem,
      user: 'alice#orders-ro',
      password: ALICE_PASSWORD,
    });
    c.send(
      serializeParse({ sql: 'select 1' }),
      serializeBind({}),
      serializeExecute(),
      sync(),
      serializeParse({ sql: 'insert into orders values ($1, $2, 1)' }),
      serializeBind({ params: ['9', 'x'] }),
      serializeExecute(),
      sync(),
      serializeQuery('delete from orders'),
      serializeQuery('select 2'),
    );
    const messages = await c.untilReady(4);
    expect(messages.map((m) => m.type).join('')).toBe('12DCZ' + 'EZ' + 'EZ' + 'TDCZ');
    expect(messages.filter((m) => m.type === 'E').map(errorText)).toEqual([
      '42501 target "orders-ro" is read-only',
      '42501 target "orders-ro" is read-only',
    ]);
    c.close();
  });
});

describe('query audit', () => {
  it('every-statement-is-audited-with-sql-rows-duration-sqlstate-and-fingerprint', async () => {
    const client = await world.connect();
    const sid = await sidOf(client);
    await client.query('select * from orders where id <= 5');
    await client.query('select item from orders where id = $1', [7]);
    await client.query('select 1/0').catch(() => undefined);
    await client.query("insert into orders values (3000, 'audited', 1)");
    await client.end();
    const events = await eventually(async () => {
      const found = await eventsOf(sid);
      return found.some((e) => e.type === 'session.end') ? found : undefined;
    });
    const queries = events.filter((e) => e.type === 'db.query');
    for (const q of queries)
      expect(q).toMatchObject({ user: 'alice', target: 'orders-db', clientAddr: '127.0.0.1' });
    const bySql = (sql: string): AuditLine | undefined =>
      queries.find((q) => q.data['sql'] === sql);
    expect(bySql('select * from orders where id <= 5')?.data).toMatchObject({
      mode: 'simple',
      rows: 5,
      status: 'ok',
      commands: ['SELECT 5'],
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(bySql('select item from orders where id = $1')?.data).toMatchObject({
      mode: 'extended',
      params: ['7'],
      rows: 1,
      status: 'ok',
    });
    expect(bySql('select 1/0')?.data).toMatchObject({
      status: 'error',
      sqlstate: '22012',
      error: 'division by zero',
      rows: null,
    });
    expect(bySql("insert into orders values (3000, 'audited', 1)")?.data).toMatchObject({
      rows: 1,
      commands: ['INSERT 0 1'],
    });
    for (const q of queries) expect(typeof q.data['durationMs']).toBe('number');
    const end = events.find((e) => e.type === 'session.end');
    expect(end?.data).toMatchObject({
      status: 'ended',
      reason: 'client-closed',
      stats: { statements: queries.length, errors: 1, denied: 0 },
    });
    expect((end?.data['stats'] as Record<string, number>)['bytesFromClient']).toBeGreaterThan(0);
  });

  it('the-transcript-holds-the-statements-and-its-hash-is-in-session-end', async () => {
    const client = await world.connect();
    const sid = await sidOf(client);
    await client.query("select 'transcribed' as t");
    await client.end();
    const end = await eventually(async () => (await eventsOf(sid, 'session.end'))[0]);
    const path = world.transcriptFiles().find((p) => p.endsWith(`${sid}.db.ndjson`));
    expect(path).toBeDefined();
    const bytes = readFileSync(path ?? '');
    expect(end.data['recording']).toBe(JSON.stringify([path?.split('/recordings/')[1]]));
    expect(end.data['recordingSha256']).toBe(
      JSON.stringify([createHash('sha256').update(bytes).digest('hex')]),
    );
    const lines = bytes
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      format: 'gatehouse-db-transcript',
      sid,
      user: 'alice',
      target: 'orders-db',
      account: LEASED_ROLE,
    });
    expect(lines.find((l) => l['sql'] === "select 'transcribed' as t")).toMatchObject({
      type: 'query',
      rows: 1,
      status: 'ok',
    });
    expect(lines.at(-1)).toMatchObject({ type: 'end', reason: 'client-closed' });
  });

  it('password-literals-and-their-parameters-never-reach-audit-transcripts-or-logs', async () => {
    await world.superQuery(`ALTER ROLE ${LEASED_ROLE} CREATEROLE`);
    await world.superQuery('CREATE ROLE victim');
    const canary = `canary-${Date.now()}`;
    const run = await world.psql(['-c', `ALTER ROLE victim PASSWORD '${canary}'`]);
    expect(run.stdout.trim()).toBe('ALTER ROLE');
    const client = await world.connect();
    await client.query('select $1::text as password', [`${canary}-param`]);
    await client.query(
      `alter role victim with login password '${canary}-x' valid until 'infinity'`,
    );
    await client.end();
    const events = await eventually(async () => {
      const all = await world.auditEvents();
      return all.some(
        (e) =>
          e.type === 'db.query' && e.data['redacted'] === true && e.data['mode'] === 'extended',
      )
        ? all
        : undefined;
    });
    const redacted = events.filter((e) => e.type === 'db.query' && e.data['redacted'] === true);
    expect(redacted.map((e) => e.data['sql'])).toContain("ALTER ROLE victim PASSWORD '[redacted]'");
    await new Promise((r) => setTimeout(r, 1500)); // transcripts flush within a second
    const everything = [
      JSON.stringify(events),
      world.gatehouse.logs(),
      ...world.transcriptFiles().map((p) => readFileSync(p, 'utf8')),
      readFileSync(`${world.gatehouse.dir}/audit/sink.jsonl`, 'utf8'),
    ].join('\n');
    expect(everything).not.toContain(canary);
    expect(everything).not.toContain(LEASED_PASSWORD);
    expect(everything).not.toContain(ALICE_PASSWORD);
  });
});

describe('ending sessions', () => {
  it('an-admin-kill-ends-the-session-with-57P01', async () => {
    const client = await world.connect();
    const sid = await sidOf(client);
    const ended = new Promise<Error>((resolve) => client.on('error', resolve));
    await requestSessionKill(world.cp.store.db, sid, 'killed in a test');
    const err = (await ended) as pg.DatabaseError;
    expect(err.code).toBe('57P01');
    expect(err.message).toBe('killed in a test');
    const end = await eventually(async () => (await eventsOf(sid, 'session.end'))[0]);
    expect(end.data).toMatchObject({ status: 'terminated', reason: 'admin-kill' });
    await client.end().catch(() => undefined);
  });

  it('an-idle-session-ends-after-the-targets-idle-timeout', async () => {
    const by = { actor: 'test' };
    await world.cp.targets.add(
      {
        name: 'orders-idle',
        kind: 'postgres',
        host: world.cluster.host,
        port: world.cluster.port,
        username: LEASED_ROLE,
        database: 'app',
        options: { idleTimeoutS: 1 },
      },
      by,
    );
    await world.cp.credentials.set(
      'orders-idle',
      { kind: 'password', password: Buffer.from(LEASED_PASSWORD) },
      by,
    );
    await world.cp.grants.create(
      { subject: { kind: 'user', name: 'alice' }, scope: { kind: 'target', name: 'orders-idle' } },
      by,
    );
    const client = await world.connect({ login: 'alice#orders-idle' });
    const ended = new Promise<Error>((resolve) => client.on('error', resolve));
    const err = (await ended) as pg.DatabaseError;
    expect(err.code).toBe('57P05');
    await client.end().catch(() => undefined);
  });
});
