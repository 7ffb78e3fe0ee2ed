import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import { asStoreError, isStoreUnavailable, waitingPool, withStoreErrors } from './unavailable.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratchFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-unavail-'));
  dirs.push(dir);
  return join(dir, 'store.db');
}

/** A port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('store unavailable', () => {
  it('a-sqlite-file-locked-by-another-connection-is-gh-store-unavailable-and-a-constraint-error-is-not', async () => {
    const path = scratchFile();
    const holder = new SqliteDatabase(path);
    holder.pragma('journal_mode = WAL');
    holder.exec('create table t (id integer primary key)');
    const mine = new SqliteDatabase(path);
    mine.pragma('busy_timeout = 0');
    const db = new Kysely<{ t: { id: number } }>({
      dialect: withStoreErrors(new SqliteDialect({ database: mine })),
    });
    try {
      holder.exec('begin exclusive');
      const locked = await db
        .insertInto('t')
        .values({ id: 1 })
        .execute()
        .catch((e: unknown) => e);
      expect(isGatehouseError(locked, 'GH_STORE_UNAVAILABLE')).toBe(true);
      expect((locked as Error).cause).toMatchObject({ code: 'SQLITE_BUSY' });
      // In a transaction too (begin, statement, rollback all go through the wrapper).
      const inTrx = await db
        .transaction()
        .execute((trx) => trx.insertInto('t').values({ id: 1 }).execute())
        .catch((e: unknown) => e);
      expect(isGatehouseError(inTrx, 'GH_STORE_UNAVAILABLE')).toBe(true);
      holder.exec('commit');
      await db.insertInto('t').values({ id: 1 }).execute();
      const duplicate = await db
        .insertInto('t')
        .values({ id: 1 })
        .execute()
        .catch((e: unknown) => e);
      expect(isGatehouseError(duplicate)).toBe(false);
      expect(duplicate).toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
      expect(await sql<{ n: number }>`select count(*) as n from t`.execute(db)).toMatchObject({
        rows: [{ n: 1 }],
      });
    } finally {
      await db.destroy();
      holder.close();
    }
  });

  it('a-refused-postgresql-connection-is-unavailable-and-a-wrong-database-is-not', async () => {
    const port = await closedPort();
    const refused = await new pg.Client({ host: '127.0.0.1', port, user: 'x' })
      .connect()
      .catch((e: unknown) => e);
    expect(isStoreUnavailable(refused)).toBe(true);
    expect(isGatehouseError(asStoreError(refused), 'GH_STORE_UNAVAILABLE')).toBe(true);
    const client = new pg.Client({
      connectionString: 'postgres://postgres@127.0.0.1:5432/gh_no_such_database',
    });
    const missing = await client.connect().catch((e: unknown) => e);
    await client.end().catch(() => undefined);
    expect(missing).toMatchObject({ code: '3D000' });
    expect(isStoreUnavailable(missing)).toBe(false);
  });

  it('the-waiting-pool-tries-again-while-the-server-is-down-and-gives-up-at-its-bound', async () => {
    const port = await closedPort();
    const down = new pg.Pool({ host: '127.0.0.1', port, user: 'x', max: 1 });
    let tries = 0;
    const counted = {
      connect: () => {
        tries += 1;
        return down.connect();
      },
      end: () => down.end(),
    };
    try {
      // It gives up (the server never comes) with the server's own error, after trying again.
      const err = await waitingPool(counted, { waitMs: 300 })
        .connect()
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ECONNREFUSED' });
      expect(tries).toBeGreaterThan(1);
    } finally {
      await down.end();
    }
    const sleep = (): Promise<void> => Promise.resolve();
    // A server that comes up meanwhile: a later attempt succeeds.
    const up = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    let attempts = 0;
    const flaky = {
      connect: async () => {
        attempts += 1;
        if (attempts < 3)
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return await up.connect();
      },
      end: () => up.end(),
    };
    const pool = waitingPool(flaky, { waitMs: 10_000, sleep });
    const client = await pool.connect();
    expect((await client.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    client.release();
    await pool.end();
    expect(attempts).toBe(3);
  });
});
