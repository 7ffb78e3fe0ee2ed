import { describe, expect, it } from 'vitest';
import {
  LEASE_STORE_DRIVERS,
  openSeededLeaseWorld,
  withCode,
} from '../../test/support/lease-world.js';

describe.each(LEASE_STORE_DRIVERS)('lease release and session end on %s', (driver) => {
  it('lease-rows-are-written-then-released-by-the-gateway-and-at-session-end', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    const first = await world.gatewayA.client.unlockCredential(session.grantToken);
    const second = await world.gatewayA.client.unlockCredential(session.grantToken);
    const leases = await world.db.selectFrom('leases').selectAll().orderBy('id').execute();
    expect(
      leases.map((l) => [l.sid, l.user_name, l.gateway_id, l.credential_version, l.released_at]),
    ).toEqual([
      [session.sid, 'alice', world.gatewayA.id, 1, null],
      [session.sid, 'alice', world.gatewayA.id, 1, null],
    ]);

    world.clock.now += 5000;
    await first.release();
    expect(first.secret.every((b) => b === 0)).toBe(true);
    await first.release(); // idempotent
    const released = await world.db
      .selectFrom('leases')
      .select('released_at')
      .where('id', '=', first.leaseId)
      .executeTakeFirstOrThrow();
    expect(released.released_at).toBe(world.clock.now);
    expect(world.audit.ofType('lease.release')).toHaveLength(1);
    expect(world.audit.ofType('lease.release')[0]).toMatchObject({
      sid: session.sid,
      target: 'web-1',
      data: { leaseId: first.leaseId, reason: 'released', heldMs: 5000 },
    });

    await world.service.endSession(session.sid, {
      status: 'ended',
      reason: 'client-closed',
      recordingSha256: 'ab'.repeat(32),
    });
    await world.service.endSession(session.sid, { status: 'ended' }); // idempotent
    expect(
      (
        await world.db
          .selectFrom('leases')
          .select('released_at')
          .where('id', '=', second.leaseId)
          .executeTakeFirstOrThrow()
      ).released_at,
    ).toBe(world.clock.now);
    expect(world.audit.ofType('lease.release').map((e) => e.data['reason'])).toEqual([
      'released',
      'session-end',
    ]);
    expect(world.audit.ofType('session.end')).toHaveLength(1);
    expect(world.audit.ofType('session.end')[0]).toMatchObject({
      sid: session.sid,
      data: { status: 'ended', reason: 'client-closed', durationMs: 5000 },
    });
    const row = await world.db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      status: 'ended',
      ended_at: world.clock.now,
      recording_sha256: 'ab'.repeat(32),
    });
    // An ended session unlocks nothing more.
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_GRANT_INVALID'),
    );
    await second.release(); // already released by endSession: no second event
    expect(world.audit.ofType('lease.release')).toHaveLength(2);
  });

  it('a-release-or-session-end-that-cannot-be-audited-does-not-happen', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    const leased = await world.gatewayA.client.unlockCredential(session.grantToken);
    const leaseOpen = async (): Promise<boolean> =>
      (
        await world.db
          .selectFrom('leases')
          .select('released_at')
          .where('id', '=', leased.leaseId)
          .executeTakeFirstOrThrow()
      ).released_at === null;
    const sessionStatus = async (): Promise<string> =>
      (await world.db.selectFrom('sessions').select('status').executeTakeFirstOrThrow()).status;

    world.audit.failNext = true;
    await expect(leased.release()).rejects.toThrow(withCode('GH_AUDIT_WRITE_FAILED'));
    expect(await leaseOpen()).toBe(true);
    world.audit.failNext = true;
    await expect(
      world.service.endSession(session.sid, { status: 'ended', reason: 'client-closed' }),
    ).rejects.toThrow(withCode('GH_AUDIT_WRITE_FAILED'));
    expect([await sessionStatus(), await leaseOpen()]).toEqual(['active', true]);
    expect(world.audit.ofType('lease.release')).toEqual([]);
    expect(world.audit.ofType('session.end')).toEqual([]);

    // Once the chain takes events again, both go through, each audited once.
    await leased.release();
    await world.service.endSession(session.sid, { status: 'ended', reason: 'client-closed' });
    expect([await sessionStatus(), await leaseOpen()]).toEqual(['ended', false]);
    expect(world.audit.ofType('lease.release').map((e) => e.data['reason'])).toEqual(['released']);
    expect(world.audit.ofType('session.end')).toHaveLength(1);
  });

  it('a-gateway-cannot-release-another-gateways-lease', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const gatewayB = await world.addGateway('gw-b');
    const session = await world.authorize('alice', 'web-1');
    await using leased = await world.gatewayA.client.unlockCredential(session.grantToken);
    const { signReleaseRequest } = await import('./leases.js');
    const request = signReleaseRequest(gatewayB.identity.signer, gatewayB.id, {
      leaseId: leased.leaseId,
      sid: session.sid,
      ts: world.clock.now,
    });
    await expect(world.service.releaseLease(request)).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    const posing = signReleaseRequest(gatewayB.identity.signer, world.gatewayA.id, {
      leaseId: leased.leaseId,
      sid: session.sid,
      ts: world.clock.now,
    });
    await expect(world.service.releaseLease(posing)).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    expect(world.audit.ofType('lease.release')).toEqual([]);
  });
});
