import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FRONTEND,
  serializeBind,
  serializeCopyData,
  serializeDescribe,
  serializeEmpty,
  serializeExecute,
  serializeParse,
  serializeQuery,
} from '../../src/db/postgres/protocol/index.js';
import { ALICE_PASSWORD, startPgWorld, type PgWorld } from './fixture.js';
import { spawnPty } from './pty.js';
import { RawPgClient, sendCancel, sqlstateOf } from './raw-client.js';

let world: PgWorld;
let scratch: string;
beforeAll(async () => {
  world = await startPgWorld();
  scratch = mkdtempSync(join(tmpdir(), 'gh-pg-relay-'));
}, 90_000);
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await world?.[Symbol.asyncDispose]();
});

const raw = (): Promise<RawPgClient> =>
  RawPgClient.connect({
    port: world.gatehouse.pgPort,
    ca: world.caPem,
    user: 'alice#orders-db',
    password: ALICE_PASSWORD,
  });
const sync = (): Buffer => serializeEmpty(FRONTEND.sync);

/** Resident memory of the gatehouse process, in bytes. */
function gatewayRss(): number {
  const status = readFileSync(`/proc/${world.gatehouse.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

describe('postgres relay', () => {
  it('simple-and-extended-queries-with-parameters-return-the-rows', async () => {
    const client = await world.connect();
    expect((await client.query('select count(*)::int as n from orders')).rows).toEqual([
      { n: 100 },
    ]);
    expect(
      (await client.query('select item from orders where id = $1 and qty >= $2', [7, 0])).rows,
    ).toEqual([{ item: 'item-7' }]);
    const multi = (await client.query(
      'select 1 as a; select 2 as b',
    )) as unknown as pg.QueryResult[];
    expect(multi.map((r): unknown => r.rows[0])).toEqual([{ a: 1 }, { b: 2 }]);
    await client.end();
  });

  it('binary-results-come-through-unchanged', async () => {
    const client = await world.connect({ binary: true } as pg.ClientConfig);
    const { rows } = await client.query<{ i: number; t: string; b: Buffer }>(
      "select 123456::int4 as i, 'héllo'::text as t, '\\x00ff10'::bytea as b",
    );
    expect(rows[0]).toEqual({ i: 123456, t: 'héllo', b: Buffer.from([0, 255, 16]) });
    await client.end();
  });

  it('transactions-commit-roll-back-and-fail-as-on-the-target', async () => {
    const client = await world.connect();
    await client.query('begin');
    await client.query("insert into orders values (1001, 'tx', 1)");
    await client.query('rollback');
    expect(
      (await client.query('select count(*)::int as n from orders where id = 1001')).rows[0],
    ).toEqual({ n: 0 });
    await client.query('begin');
    await expect(client.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
    await expect(client.query('select 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('rollback');
    await client.query('begin');
    await client.query("insert into orders values (1002, 'tx', 1)");
    await client.query('commit');
    expect((await client.query('select item from orders where id = 1002')).rows).toEqual([
      { item: 'tx' },
    ]);
    await client.end();
  });

  it('prepared-statements-in-a-loop', async () => {
    const client = await world.connect();
    for (let i = 1; i <= 200; i++) {
      const { rows } = await client.query({
        name: 'item-by-id',
        text: 'select item from orders where id = $1',
        values: [(i % 100) + 1],
      });
      expect(rows[0]?.item).toBe(`item-${(i % 100) + 1}`);
    }
    await client.end();
  });

  it('a-pipeline-written-in-one-go-is-answered-in-order', async () => {
    const c = await raw();
    c.send(
      serializeParse({ sql: 'select $1::int * 2 as v' }),
      serializeBind({ params: ['21'] }),
      serializeDescribe('P'),
      serializeExecute(),
      sync(),
      serializeParse({ sql: 'select 1/0' }),
      serializeBind({}),
      serializeExecute(),
      sync(),
      serializeQuery('select 3 as three'),
      serializeParse({ name: 'p2', sql: 'select $1::text as t' }),
      serializeBind({ statement: 'p2', params: ['ok'] }),
      serializeExecute(),
      sync(),
    );
    const messages = await c.untilReady(4);
    const kinds = messages.map((m) => m.type).join('');
    // 1/0 is folded when the unnamed statement is planned, at Bind: ParseComplete, then the error.
    expect(kinds).toBe('12TDCZ' + '1EZ' + 'TDCZ' + '12DCZ');
    expect(
      sqlstateOf(messages.find((m) => m.type === 'E') ?? { type: 'E', body: Buffer.alloc(1) }),
    ).toBe('22012');
    c.close();
  });

  it('copy-in-and-out-with-psql-round-trips-100000-rows', async () => {
    const input = join(scratch, 'in.csv');
    const output = join(scratch, 'out.csv');
    writeFileSync(input, Array.from({ length: 100_000 }, (_, i) => `${i},note ${i}\n`).join(''));
    const copyIn = await world.psql(['-c', `\\copy copied from '${input}' with (format csv)`]);
    expect(copyIn.stderr).toBe('');
    expect(copyIn.stdout.trim()).toBe('COPY 100000');
    const copyOut = await world.psql([
      '-c',
      `\\copy (select * from copied order by id) to '${output}' with (format csv)`,
    ]);
    expect(copyOut.stdout.trim()).toBe('COPY 100000');
    expect(readFileSync(output, 'utf8')).toBe(readFileSync(input, 'utf8'));
  });

  it('copy-from-stdin-over-the-extended-protocol-keeps-the-conversation-in-step', async () => {
    const c = await raw();
    // As libpq's PQexecParams does: Sync right after Execute, before the target asked for data.
    c.send(
      serializeParse({ sql: 'copy copied from stdin' }),
      serializeBind({}),
      serializeExecute(),
      sync(),
    );
    expect([(await c.next()).type, (await c.next()).type, (await c.next()).type]).toEqual([
      '1',
      '2',
      'G',
    ]);
    c.send(
      serializeCopyData(Buffer.from('-1\textended one\n-2\textended two\n')),
      serializeEmpty(FRONTEND.copyDone),
      sync(),
    );
    expect((await c.untilReady()).map((m) => m.type).join('')).toBe('CZ');
    c.send(serializeQuery("select count(*) from copied where note like 'extended%'"));
    const counted = await c.untilReady();
    expect(counted.map((m) => m.type).join('')).toBe('TDCZ');
    expect(counted[1]?.body.subarray(6).toString()).toBe('2');
    c.close();
  });

  it('listen-and-notify-are-delivered', async () => {
    const listener = await world.connect();
    const received = new Promise<pg.Notification>((resolve) =>
      listener.on('notification', resolve),
    );
    await listener.query('listen orders_changed');
    const sender = await world.connect();
    await sender.query("select pg_notify('orders_changed', 'order 42')");
    expect(await received).toMatchObject({ channel: 'orders_changed', payload: 'order 42' });
    await sender.end();
    await listener.end();
  });

  it('a-million-row-result-streams-with-flat-gateway-memory', async () => {
    const c = await raw();
    const before = gatewayRss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, gatewayRss())), 50);
    c.send(serializeQuery("select g, repeat('x', 100) as pad from generate_series(1, 1000000) g"));
    // A slow reader first: the gateway must hold the target back, not buffer the result.
    c.socket.pause();
    await new Promise((r) => setTimeout(r, 1500));
    c.socket.resume();
    const { rows, messages } = await c.countRows();
    clearInterval(sampler);
    console.log(
      `gateway RSS before ${(before / 1e6).toFixed(1)} MB, peak ${(peak / 1e6).toFixed(1)} MB, ${(c.bytesReceived / 1e6).toFixed(0)} MB relayed`,
    );
    expect(rows).toBe(1_000_000);
    expect(messages.map((m) => m.type).join('')).toBe('TCZ');
    expect(c.bytesReceived).toBeGreaterThan(100_000_000);
    // The result is > 100 MB; what the gateway holds stays a small fraction of it.
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
    c.close();
  }, 60_000);

  it('a-cancel-request-through-the-gateway-cancels-the-running-query', async () => {
    const c = await raw();
    c.send(serializeQuery('select pg_backend_pid() as pid'));
    const pidRows = await c.untilReady();
    const backendPid = Number(
      pidRows
        .find((m) => m.type === 'D')
        ?.body.subarray(6)
        .toString(),
    );
    expect(c.key).toBeDefined();
    expect(c.key?.pid).not.toBe(backendPid); // the client only ever sees the gateway's key
    const started = Date.now();
    c.send(serializeQuery('select pg_sleep(30)'));
    await new Promise((r) => setTimeout(r, 300));
    if (c.key !== undefined) await sendCancel(world.gatehouse.pgPort, c.key);
    const answer = await c.untilReady();
    expect(
      sqlstateOf(answer.find((m) => m.type === 'E') ?? { type: 'E', body: Buffer.alloc(1) }),
    ).toBe('57014');
    expect(Date.now() - started).toBeLessThan(10_000);
    // A wrong key cancels nothing.
    c.send(serializeQuery('select pg_sleep(1)'));
    if (c.key !== undefined)
      await sendCancel(world.gatehouse.pgPort, { pid: c.key.pid, secret: c.key.secret ^ 1 });
    expect((await c.untilReady()).map((m) => m.type).join('')).toBe('TDCZ');
    c.close();
  });

  it('psql-asks-for-the-password-and-ctrl-c-cancels-the-query-upstream', async () => {
    // No PGPASSWORD: psql connects, sees the SASL request, asks, and connects again.
    const psql = spawnPty('psql', ['-X', world.conninfo()], {});
    try {
      await psql.waitFor('Password for user alice#orders-db:');
      psql.write(`${ALICE_PASSWORD}\r`);
      await psql.waitFor('app=>');
      const from = psql.output().length;
      psql.write('select pg_sleep(30);\r');
      await new Promise((r) => setTimeout(r, 700));
      psql.write('\x03');
      await psql.waitFor('canceling statement due to user request', { from, timeoutMs: 10_000 });
      psql.write('\\q\r');
      expect(await psql.exited).toBe(0);
    } finally {
      psql.kill();
    }
  });
});
