import { describe, expect, it } from 'vitest';
import {
  deniedReasons,
  LEASE_STORE_DRIVERS,
  openSeededLeaseWorld,
  unlockRequest,
  withCode,
} from '../../test/support/lease-world.js';
import { newRequestNonce } from './leases.js';

describe.each(LEASE_STORE_DRIVERS)('signed unlock requests on %s', (driver) => {
  it('tampered-unlock-request-fails-its-signature', async () => {
    await using world = await openSeededLeaseWorld(driver);
    await world.targets.add(
      { name: 'web-2', kind: 'ssh', host: '127.0.0.1', port: 22, username: 'root' },
      { actor: 'admin' },
    );
    const session = await world.authorize('alice', 'web-1');
    const signed = unlockRequest(world.gatewayA, world, session.grantToken);
    const tampered = [
      { ...signed, payload: { ...signed.payload, target: 'web-2' } },
      { ...signed, payload: { ...signed.payload, ts: signed.payload.ts + 1 } },
      { ...signed, payload: { ...signed.payload, nonce: newRequestNonce() } },
      { ...signed, signature: Buffer.alloc(64).toString('base64') },
    ];
    for (const request of tampered)
      await expect(world.service.unlock(request)).rejects.toThrow(withCode('GH_GATEWAY_REJECTED'));
    // The grant for web-1 does not reach web-2 even when signed properly.
    const otherTarget = unlockRequest(world.gatewayA, world, session.grantToken, {
      target: 'web-2',
    });
    await expect(world.service.unlock(otherTarget)).rejects.toThrow(withCode('GH_GRANT_INVALID'));
    expect(deniedReasons(world)).toEqual([
      'bad-signature',
      'bad-signature',
      'bad-signature',
      'bad-signature',
      'grant-for-other-target',
    ]);
    expect((await world.service.unlock(signed)).credentialVersion).toBe(1);
  });

  it('replayed-or-stale-unlock-request-is-refused', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    const signed = unlockRequest(world.gatewayA, world, session.grantToken);
    await world.service.unlock(signed);
    await expect(world.service.unlock(signed)).rejects.toThrow(withCode('GH_GATEWAY_REJECTED'));
    const stale = unlockRequest(world.gatewayA, world, session.grantToken, {
      ts: world.clock.now - 61_000,
    });
    await expect(world.service.unlock(stale)).rejects.toThrow(withCode('GH_GATEWAY_REJECTED'));
    expect(deniedReasons(world)).toEqual(['replayed', 'stale-request']);
  });

  it('one-unlock-request-sent-twice-at-once-unlocks-once', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    const signed = unlockRequest(world.gatewayA, world, session.grantToken);
    // Both pass the early look at the nonce; it is spent in the unlock's own transaction.
    const outcomes = await Promise.allSettled([
      world.service.unlock(signed),
      world.service.unlock(signed),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((o) => o.status === 'rejected')?.reason).toEqual(
      withCode('GH_GATEWAY_REJECTED'),
    );
    expect(deniedReasons(world)).toEqual(['replayed']);
    expect(world.audit.ofType('credential.unlock')).toHaveLength(1);
    expect(await world.db.selectFrom('leases').selectAll().execute()).toHaveLength(1);
  });
});
