import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS, TEST_PG_URL } from '../../test/support/stores.js';
import { isGatehouseError } from '../core/errors.js';

describe.each(STORE_DRIVERS)('store on %s', (driver) => {
  it('migrates and seeds the built-in roles and the audit chain head', async () => {
    await using store = await openScratchStore(driver);
    const roles = await store.db.selectFrom('roles').select('name').orderBy('name').execute();
    expect(roles.map((r) => r.name)).toEqual(['admin', 'auditor', 'user']);
    const head = await store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    expect(head.seq).toBe(0);
    expect(typeof head.seq).toBe('number');
  });

  it('round-trips bigint millisecond times as numbers', async () => {
    await using store = await openScratchStore(driver);
    const t = 1_800_000_000_123;
    await store.db.insertInto('kv').values({ key: 'k', value: 'v' }).execute();
    await store.db.insertInto('used_proofs').values({ proof_id: 'p', expires_at: t }).execute();
    const row = await store.db.selectFrom('used_proofs').selectAll().executeTakeFirstOrThrow();
    expect(row.expires_at).toBe(t);
  });

  if (driver === 'postgres')
    it('a-connection-the-server-ends-while-a-transaction-holds-it-fails-that-transaction-not-the-process', async () => {
      await using store = await openScratchStore(driver);
      const admin = new pg.Client({ connectionString: TEST_PG_URL });
      await admin.connect();
      try {
        const cut = store.db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // Between two statements, as a login's transaction waits for its next step.
          await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await sql`select 1`.execute(trx);
        });
        await expect(cut).rejects.toSatisfy((err) => isGatehouseError(err, 'GH_STORE_UNAVAILABLE'));
        // The store goes on with a new connection.
        const { rows } = await sql<{ one: number }>`select 1 as one`.execute(store.db);
        expect(rows).toEqual([{ one: 1 }]);
      } finally {
        await admin.end();
      }
    });
});
