import mysql from 'mysql2/promise';
import pg from 'pg';
import { withTimeout, type LoadWorker } from './ssh-load.js';
import type { Tally } from './tally.js';
import type { SoakWorld } from './world.js';

/** Longest wait for a login on a loaded machine (the drivers' own timeouts). */
const CONNECT_TIMEOUT_MS = 120_000;

/** What a database worker inserted and committed: the upstream table must hold exactly this. */
export interface DbWrites {
  /** Rows committed (plain inserts and committed transactions). */
  rows: number;
  /** Rows updated in committed transactions (`touched` summed upstream). */
  touched: number;
  /**
   * Writes of clients that failed before they could tell whether they committed (a real client
   * cut after its COMMIT): the table may hold them or not. The failure itself is counted apart.
   */
  unsure?: { rows: number; touched: number };
}

/**
 * A PostgreSQL connection through Gatehouse with the pg driver, looping over the statement
 * kinds an application sends: a simple query, a parameterized one (unnamed extended protocol),
 * a named prepared INSERT, a committed and a rolled back transaction. Each statement is one
 * `db.query` event. Its row count is checked against what it committed, so lost or doubled
 * statements show up in the data too.
 */
export function pgWorker(
  world: SoakWorld,
  tally: Tally,
  worker: number,
  writes: DbWrites,
): LoadWorker {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: world.gatehouse.pgPort,
    user: `alice#${world.targets.pg}`,
    password: world.alicePassword,
    database: 'soak',
    ssl: { ca: world.caPem },
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  let mine = 0;
  let n = 0;
  const insert = (): pg.QueryConfig => ({
    name: 'soak_insert',
    text: 'INSERT INTO soak_items (worker, n) VALUES ($1, $2)',
    values: [worker, ++n],
  });
  return {
    open: () =>
      tally.run('pg.open', async () => {
        await client.connect();
        return { 'auth.success': 1, 'session.start': 1, 'credential.unlock': 1 };
      }),
    work: async (round) => {
      await tally.run('pg.simple', async () => {
        const r = await client.query<{ v: string }>(`SELECT 'soak-' || ${round} AS v`);
        if (r.rows[0]?.v !== `soak-${round}`) throw new Error('pg.simple: wrong answer');
        return { 'db.query': 1 };
      });
      await tally.run('pg.count', async () => {
        const r = await client.query<{ c: number }>(
          'SELECT count(*)::int AS c FROM soak_items WHERE worker = $1',
          [worker],
        );
        if (r.rows[0]?.c !== mine)
          throw new Error(`pg.count: ${String(r.rows[0]?.c)} rows, committed ${mine}`);
        return { 'db.query': 1 };
      });
      await tally.run('pg.prepared-insert', async () => {
        await client.query(insert());
        mine += 1;
        writes.rows += 1;
        return { 'db.query': 1 };
      });
      if (round % 2 === 0) {
        await tally.run('pg.transaction', async () => {
          await client.query('BEGIN');
          const row = insert();
          await client.query(row);
          const updated = await client.query(
            'UPDATE soak_items SET touched = touched + 1 WHERE worker = $1 AND n = $2',
            row.values,
          );
          if (updated.rowCount !== 1) throw new Error('pg.transaction: update missed its row');
          await client.query('COMMIT');
          mine += 1;
          writes.rows += 1;
          writes.touched += 1;
          return { 'db.query': 4 };
        });
      } else {
        await tally.run('pg.rollback', async () => {
          await client.query('BEGIN');
          await client.query(insert());
          await client.query('ROLLBACK');
          return { 'db.query': 3 };
        });
      }
    },
    close: async () => {
      await tally.run('pg.close', async () => {
        await withTimeout(client.end(), 'pg end');
        return { 'lease.release': 1, 'session.end': 1 };
      });
    },
  };
}

/**
 * A MySQL connection through Gatehouse with mysql2 (TLS, alice's password): a text-protocol
 * query, server-side prepared statements (`execute`: COM_STMT_PREPARE once per text, then
 * COM_STMT_EXECUTE, which is what Gatehouse audits), a committed and a rolled back transaction.
 */
export function mysqlWorker(
  world: SoakWorld,
  tally: Tally,
  worker: number,
  writes: DbWrites,
): LoadWorker {
  let connection: mysql.Connection | undefined;
  let mine = 0;
  let n = 0;
  const conn = (): mysql.Connection => {
    if (connection === undefined) throw new Error('not connected');
    return connection;
  };
  const insert = (): Promise<unknown> =>
    conn().execute('INSERT INTO soak_items (worker, n) VALUES (?, ?)', [worker, ++n]);
  return {
    open: () =>
      tally.run('my.open', async () => {
        connection = await mysql.createConnection({
          host: '127.0.0.1',
          port: world.gatehouse.mysqlPort,
          user: `alice#${world.targets.mysql}`,
          password: world.alicePassword,
          ssl: { ca: world.caPem },
          connectTimeout: CONNECT_TIMEOUT_MS,
        });
        connection.on('error', () => undefined);
        return { 'auth.success': 1, 'session.start': 1, 'credential.unlock': 1 };
      }),
    work: async (round) => {
      await tally.run('my.simple', async () => {
        const [rows] = await conn().query<mysql.RowDataPacket[]>(
          `SELECT CONCAT('soak-', ${round}) AS v`,
        );
        if (rows[0]?.['v'] !== `soak-${round}`) throw new Error('my.simple: wrong answer');
        return { 'db.query': 1 };
      });
      await tally.run('my.count', async () => {
        const [rows] = await conn().execute<mysql.RowDataPacket[]>(
          'SELECT COUNT(*) AS c FROM soak_items WHERE worker = ?',
          [worker],
        );
        if (Number(rows[0]?.['c']) !== mine)
          throw new Error(`my.count: ${String(rows[0]?.['c'])} rows, committed ${mine}`);
        return { 'db.query': 1 };
      });
      await tally.run('my.prepared-insert', async () => {
        await insert();
        mine += 1;
        writes.rows += 1;
        return { 'db.query': 1 };
      });
      if (round % 2 === 0) {
        await tally.run('my.transaction', async () => {
          await conn().beginTransaction();
          await insert();
          const [result] = await conn().execute<mysql.ResultSetHeader>(
            'UPDATE soak_items SET touched = touched + 1 WHERE worker = ? AND n = ?',
            [worker, n],
          );
          if (result.affectedRows !== 1) throw new Error('my.transaction: update missed its row');
          await conn().commit();
          mine += 1;
          writes.rows += 1;
          writes.touched += 1;
          return { 'db.query': 4 };
        });
      } else {
        await tally.run('my.rollback', async () => {
          await conn().beginTransaction();
          await insert();
          await conn().rollback();
          return { 'db.query': 3 };
        });
      }
    },
    close: async () => {
      await tally.run('my.close', async () => {
        await withTimeout(conn().end(), 'mysql end');
        return { 'lease.release': 1, 'session.end': 1 };
      });
    },
  };
}
