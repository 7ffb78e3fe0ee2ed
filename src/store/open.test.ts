import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';

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
});
