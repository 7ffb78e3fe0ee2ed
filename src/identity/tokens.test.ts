import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import { isGatehouseError } from '../core/errors.js';
import { denied } from './testing/denied.js';
import { makeIdentityFixture, TEST_CTX, type IdentityFixture } from './testing/identity-fixture.js';
import { hashTokenSecret } from './tokens.js';

const by = { actor: 'root' };
const HOUR_MS = 3_600_000;

describe.each(STORE_DRIVERS)('personal access tokens on %s', (driver) => {
  async function fixture(): Promise<IdentityFixture> {
    const fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('alice', { ...by, password: 'alice password' });
    await fx.users.add('bob', by);
    return fx;
  }

  it('token-secret-is-returned-once-and-stored-only-as-its-hash', async () => {
    await using fx = await fixture();
    const created = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    expect(created.secret).toMatch(/^ght_[A-Za-z0-9_-]{43}$/);
    const rows = await fx.store.db.selectFrom('tokens').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).toBe(hashTokenSecret(created.secret));
    expect(JSON.stringify(rows)).not.toContain(created.secret.slice(4));
    expect(JSON.stringify(await fx.tokens.list('alice'))).not.toContain(created.secret.slice(4));
    expect(JSON.stringify(fx.audit.events)).not.toContain(created.secret.slice(4));
    expect(fx.audit.last()).toMatchObject({
      type: 'admin.token.create',
      user: 'alice',
      data: { by: 'root', tokenId: created.id },
    });
  });

  it('valid-token-authenticates-its-owner-and-records-use', async () => {
    await using fx = await fixture();
    const created = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    const user = await fx.auth.verifyToken(created.secret, {
      clientAddr: null,
      method: 'web-token',
    });
    expect(user.name).toBe('alice');
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.success',
      data: { method: 'web-token', tokenId: created.id },
    });
    expect((await fx.tokens.list('alice'))[0]?.lastUsedAt).toBe(fx.now());
  });

  it('token-is-accepted-wherever-a-password-is', async () => {
    await using fx = await fixture();
    const created = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    expect((await fx.auth.verifyPassword('alice', created.secret, TEST_CTX)).name).toBe('alice');
    // …but only for its owner.
    await denied(fx.auth.verifyPassword('bob', created.secret, TEST_CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'bad-token', detail: 'other-user' });
  });

  it('expired-token-is-refused', async () => {
    await using fx = await fixture();
    const created = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    fx.advance(HOUR_MS);
    await denied(fx.auth.verifyToken(created.secret, TEST_CTX));
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.failure',
      user: 'alice',
      data: { reason: 'bad-token', detail: 'expired' },
    });
    await denied(fx.auth.verifyPassword('alice', created.secret, TEST_CTX));
    expect(await fx.tokens.verify(created.secret)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('revoked-token-is-refused', async () => {
    await using fx = await fixture();
    const created = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    await fx.tokens.revoke(created.id, { actor: 'sec' });
    await fx.tokens.revoke(created.id, { actor: 'sec' }); // no-op
    expect(fx.audit.ofType('admin.token.revoke')).toHaveLength(1);
    await denied(fx.auth.verifyToken(created.secret, TEST_CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'bad-token', detail: 'revoked' });
    expect((await fx.tokens.list('alice'))[0]?.revokedAt).toBe(fx.now());
    const missing = await fx.tokens.revoke('tok_missing', by).catch((e: unknown) => e);
    expect(isGatehouseError(missing, 'GH_NOT_FOUND')).toBe(true);
  });

  it('unknown-or-malformed-token-is-refused-without-naming-a-user', async () => {
    await using fx = await fixture();
    await denied(fx.auth.verifyToken(`ght_${'A'.repeat(43)}`, TEST_CTX));
    expect(fx.audit.last()).toMatchObject({
      user: null,
      data: { reason: 'bad-token', detail: 'unknown' },
    });
    await denied(fx.auth.verifyToken('not a token', TEST_CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'bad-token', detail: 'malformed' });
  });

  it('disabled-owner-token-is-refused', async () => {
    await using fx = await fixture();
    const created = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    await fx.users.disable('alice', by);
    await denied(fx.auth.verifyToken(created.secret, TEST_CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'disabled' });
  });

  it('expiry-must-be-in-the-future-and-list-is-metadata-only', async () => {
    await using fx = await fixture();
    const past = await fx.tokens
      .create('alice', { ...by, expiresAt: fx.now() })
      .catch((e: unknown) => e);
    expect(isGatehouseError(past, 'GH_INVALID_ARGUMENT')).toBe(true);
    const a = await fx.tokens.create('alice', { ...by, expiresAt: fx.now() + HOUR_MS });
    const list = await fx.tokens.list('alice');
    expect(list).toEqual([
      {
        id: a.id,
        userId: expect.stringMatching(/^usr_/) as unknown,
        expiresAt: a.expiresAt,
        createdAt: fx.now(),
        lastUsedAt: null,
        revokedAt: null,
      },
    ]);
    expect(await fx.tokens.list('bob')).toEqual([]);
  });
});
