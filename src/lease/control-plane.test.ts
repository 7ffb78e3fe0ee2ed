import { describe, expect, it } from 'vitest';
import {
  LEASE_STORE_DRIVERS,
  LEASED_PASSWORD,
  openLeaseWorld,
  openSeededLeaseWorld,
  unlockRequest,
  withCode,
} from '../../test/support/lease-world.js';
import { openSealedBox } from './seal.js';
import { SESSION_GRANT_TTL_MS, readSessionGrantUnverified } from './session-grant.js';

describe.each(LEASE_STORE_DRIVERS)('dual-key unlock on %s', (driver) => {
  it('valid-proof-grant-and-gateway-key-unlock-the-credential-sealed-to-that-gateway', async () => {
    await using world = await openLeaseWorld(driver);
    const grantId = await world.seedTarget({
      target: 'web-1',
      user: 'alice',
      password: LEASED_PASSWORD,
    });
    const session = await world.authorize('alice', 'web-1');
    const grant = readSessionGrantUnverified(session.grantToken);
    expect(grant).toMatchObject({
      sid: session.sid,
      user: 'alice',
      target: 'web-1',
      gateway: world.gatewayA.id,
      grantId,
    });
    expect(grant.exp - grant.iat).toBe(SESSION_GRANT_TTL_MS);
    expect(
      await world.db
        .selectFrom('sessions')
        .select(['status', 'gateway_id', 'client_addr'])
        .execute(),
    ).toEqual([{ status: 'active', gateway_id: world.gatewayA.id, client_addr: '192.0.2.10' }]);

    await using leased = await world.gatewayA.client.unlockCredential(session.grantToken);
    expect(leased.secret.toString()).toBe(LEASED_PASSWORD);
    expect(leased).toMatchObject({
      sid: session.sid,
      credentialVersion: 1,
      kind: 'password',
      username: 'deploy',
    });
    const unlock = world.audit.ofType('credential.unlock');
    expect(unlock).toHaveLength(1);
    expect(unlock[0]).toMatchObject({
      user: 'alice',
      sid: session.sid,
      target: 'web-1',
      gateway: world.gatewayA.id,
      clientAddr: '192.0.2.10',
      data: { leaseId: leased.leaseId, version: 1, kind: 'password', grantId },
    });
    expect(JSON.stringify(world.audit.events)).not.toContain(LEASED_PASSWORD);
  });

  it('sealed-credential-cannot-be-opened-by-another-gateway-key-or-for-another-lease', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const gatewayB = await world.addGateway('gw-b');
    const session = await world.authorize('alice', 'web-1');
    const result = await world.service.unlock(
      unlockRequest(world.gatewayA, world, session.grantToken),
    );
    expect(JSON.stringify(result)).not.toContain(LEASED_PASSWORD);
    expect(() =>
      openSealedBox(gatewayB.identity.sealPrivateKey, result.sealed, result.leaseId),
    ).toThrow(withCode('GH_CRYPTO_FAILED'));
    expect(() =>
      openSealedBox(world.gatewayA.identity.sealPrivateKey, result.sealed, 'lse_other'),
    ).toThrow(withCode('GH_CRYPTO_FAILED'));
    const opened = openSealedBox(
      world.gatewayA.identity.sealPrivateKey,
      result.sealed,
      result.leaseId,
    );
    expect(opened.toString()).toBe(LEASED_PASSWORD);
    opened.fill(0);
  });

  it('set-twice-keeps-the-leased-version-for-its-session-while-new-sessions-get-the-new-one', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: 'version-one' });
    const early = await world.authorize('alice', 'web-1');
    await using v1 = await world.gatewayA.client.unlockCredential(early.grantToken);
    expect([v1.credentialVersion, v1.secret.toString()]).toEqual([1, 'version-one']);

    await world.credentials.set(
      'web-1',
      { kind: 'password', password: Buffer.from('version-two') },
      { actor: 'admin' },
    );
    await world.credentials.set(
      'web-1',
      { kind: 'password', password: Buffer.from('version-three') },
      { actor: 'admin' },
    );
    // v2 was the last active one; v1 is still leased by the early session: both stay usable.
    expect((await world.credentials.show('web-1')).map((c) => [c.version, c.status])).toEqual([
      [3, 'active'],
      [2, 'previous'],
      [1, 'previous'],
    ]);

    await using again = await world.gatewayA.client.unlockCredential(early.grantToken);
    expect([again.credentialVersion, again.secret.toString()]).toEqual([1, 'version-one']);
    const late = await world.authorize('alice', 'web-1');
    await using v3 = await world.gatewayA.client.unlockCredential(late.grantToken);
    expect([v3.credentialVersion, v3.secret.toString()]).toEqual([3, 'version-three']);
  });
});
