import { describe, expect, it } from 'vitest';
import {
  deniedReasons,
  LEASE_STORE_DRIVERS,
  LEASED_PASSWORD,
  openLeaseWorld,
  openSeededLeaseWorld,
  unlockRequest,
  withCode,
} from '../../test/support/lease-world.js';

describe.each(LEASE_STORE_DRIVERS)('session authorization on %s', (driver) => {
  it('gateway-key-without-a-user-proof-gets-no-grant-and-no-credential', async () => {
    await using world = await openSeededLeaseWorld(driver);
    await expect(
      world.service.authenticateAndAuthorize({
        proof: world.passwordProof('alice', 'guessed'),
        target: 'web-1',
        gatewayId: world.gatewayA.id,
      }),
    ).rejects.toThrow(withCode('GH_AUTH_FAILED'));
    expect(await world.db.selectFrom('sessions').selectAll().execute()).toEqual([]);

    // No grant: whatever the gateway signs, nothing unlocks.
    for (const grant of ['', 'none', 'e30.AAAA']) {
      await expect(
        world.service.unlock(unlockRequest(world.gatewayA, world, grant)),
      ).rejects.toThrow(withCode(grant === '' ? 'GH_GATEWAY_REJECTED' : 'GH_GRANT_INVALID'));
    }
    expect(deniedReasons(world)).toEqual(['malformed-request', 'grant-invalid', 'grant-invalid']);
    expect(world.audit.ofType('credential.unlock')).toEqual([]);
    expect(await world.db.selectFrom('leases').selectAll().execute()).toEqual([]);
  });

  it('valid-proof-replayed-is-refused', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const proof = world.passwordProof('alice');
    const request = { proof, target: 'web-1', gatewayId: world.gatewayA.id };
    await world.service.authenticateAndAuthorize(request);
    await expect(world.service.authenticateAndAuthorize(request)).rejects.toThrow(
      withCode('GH_PROOF_REPLAYED'),
    );
    expect(world.audit.ofType('auth.failure').at(-1)?.data).toMatchObject({ reason: 'replayed' });
    expect(await world.db.selectFrom('sessions').selectAll().execute()).toHaveLength(1);
  });

  it('grant-never-outlives-a-short-access-grant', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({
      target: 'web-1',
      user: 'alice',
      password: LEASED_PASSWORD,
      durationMs: 30_000,
    });
    const session = await world.authorize('alice', 'web-1');
    expect(session.grantExpiresAt).toBe(world.clock.now + 30_000);
    expect(session.accessExpiresAt).toBe(world.clock.now + 30_000);
  });

  it('revoked-gateway-gets-no-grant-and-no-unlock', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    await world.gateways.revoke(world.gatewayA.id, { actor: 'admin' });
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    await expect(world.authorize('alice', 'web-1')).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    expect(deniedReasons(world)).toEqual(['gateway-revoked']);
    expect(world.audit.ofType('auth.failure').at(-1)?.data).toMatchObject({
      reason: 'gateway-revoked',
    });
    // Refused before the proof was looked at: identity was asked only for the first session.
    expect(world.proofs.calls).toHaveLength(1);
  });
});
