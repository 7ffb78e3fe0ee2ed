import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSigner } from '../crypto/key-files.js';
import {
  LEASE_STORE_DRIVERS,
  openLeaseWorld,
  withCode,
  type LeaseWorld,
  type WorldGateway,
} from '../../test/support/lease-world.js';
import { newRequestNonce, signUnlockRequest, type SignedUnlockRequest } from './leases.js';
import { openSealedBox } from './seal.js';
import {
  SESSION_GRANT_TTL_MS,
  issueSessionGrant,
  readSessionGrantUnverified,
} from './session-grant.js';

const PASSWORD = 'leased-pw-7Hq2';

function unlockRequest(
  gateway: WorldGateway,
  world: LeaseWorld,
  grant: string,
  patch: Partial<SignedUnlockRequest['payload']> = {},
): SignedUnlockRequest {
  const target = grant.includes('.') ? safeTarget(grant) : 'web-1';
  return signUnlockRequest(gateway.identity.signer, gateway.id, {
    grant,
    target,
    nonce: newRequestNonce(),
    ts: world.clock.now,
    ...patch,
  });
}

function safeTarget(grant: string): string {
  try {
    return readSessionGrantUnverified(grant).target;
  } catch {
    return 'web-1';
  }
}

function deniedReasons(world: LeaseWorld): unknown[] {
  return world.audit.ofType('credential.unlock_denied').map((e) => e.data['reason']);
}

describe.each(LEASE_STORE_DRIVERS)('dual-key unlock on %s', (driver) => {
  it('valid-proof-grant-and-gateway-key-unlock-the-credential-sealed-to-that-gateway', async () => {
    await using world = await openLeaseWorld(driver);
    const grantId = await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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
    expect(leased.secret.toString()).toBe(PASSWORD);
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
    expect(JSON.stringify(world.audit.events)).not.toContain(PASSWORD);
  });

  it('gateway-key-without-a-user-proof-gets-no-grant-and-no-credential', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const proof = world.passwordProof('alice');
    const request = { proof, target: 'web-1', gatewayId: world.gatewayA.id };
    await world.service.authenticateAndAuthorize(request);
    await expect(world.service.authenticateAndAuthorize(request)).rejects.toThrow(
      withCode('GH_PROOF_REPLAYED'),
    );
    expect(world.audit.ofType('auth.failure').at(-1)?.data).toMatchObject({ reason: 'replayed' });
    expect(await world.db.selectFrom('sessions').selectAll().execute()).toHaveLength(1);
  });

  it('expired-grant-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const session = await world.authorize('alice', 'web-1');
    world.clock.now += SESSION_GRANT_TTL_MS;
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_GRANT_INVALID'),
    );
    expect(deniedReasons(world)).toEqual(['grant-invalid']);
    expect(world.audit.ofType('credential.unlock_denied')[0]?.data['detail']).toMatch(/expired/);
  });

  it('grant-never-outlives-a-short-access-grant', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({
      target: 'web-1',
      user: 'alice',
      password: PASSWORD,
      durationMs: 30_000,
    });
    const session = await world.authorize('alice', 'web-1');
    expect(session.grantExpiresAt).toBe(world.clock.now + 30_000);
    expect(session.accessExpiresAt).toBe(world.clock.now + 30_000);
  });

  it('access-grant-revoked-between-authorize-and-unlock-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    const grantId = await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const session = await world.authorize('alice', 'web-1');
    await world.grants.revoke(grantId, { actor: 'admin' });
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_ACCESS_DENIED'),
    );
    expect(deniedReasons(world)).toEqual(['access-denied']);
    expect(world.audit.ofType('access.denied').at(-1)?.data).toMatchObject({
      reason: 'grant-revoked',
      via: 'unlock',
    });
    expect(await world.db.selectFrom('leases').selectAll().execute()).toEqual([]);
  });

  it('user-disabled-between-authorize-and-unlock-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const session = await world.authorize('alice', 'web-1');
    await world.db.updateTable('users').set({ disabled: 1 }).where('name', '=', 'alice').execute();
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_ACCESS_DENIED'),
    );
  });

  it('revoked-gateway-gets-no-grant-and-no-unlock', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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

  it('grant-for-gateway-a-presented-by-gateway-b-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const gatewayB = await world.addGateway('gw-b');
    const session = await world.authorize('alice', 'web-1', world.gatewayA);
    // B signs A's grant with its own key: a valid gateway signature, but not the grant's gateway.
    await expect(gatewayB.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_GRANT_INVALID'),
    );
    // B claims to be A but signs with its own key: the signature fails.
    const posing = signUnlockRequest(gatewayB.identity.signer, world.gatewayA.id, {
      grant: session.grantToken,
      target: 'web-1',
      nonce: newRequestNonce(),
      ts: world.clock.now,
    });
    await expect(world.service.unlock(posing)).rejects.toThrow(withCode('GH_GATEWAY_REJECTED'));
    expect(deniedReasons(world)).toEqual(['grant-for-other-gateway', 'bad-signature']);
    expect(world.audit.ofType('credential.unlock_denied')[0]).toMatchObject({
      gateway: gatewayB.id,
      user: 'alice',
      sid: session.sid,
    });
    expect(await world.db.selectFrom('leases').selectAll().execute()).toEqual([]);
    // A itself still can.
    await using leased = await world.gatewayA.client.unlockCredential(session.grantToken);
    expect(leased.secret.toString()).toBe(PASSWORD);
  });

  it('forged-grant-signed-by-another-key-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const session = await world.authorize('alice', 'web-1');
    const claims = readSessionGrantUnverified(session.grantToken);
    const forger = makeSigner(generateKeyPairSync('ed25519').privateKey);
    const forged = issueSessionGrant(forger, claims, { now: world.clock.now });
    await expect(world.gatewayA.client.unlockCredential(forged)).rejects.toThrow(
      withCode('GH_GRANT_INVALID'),
    );
    // Even for a session that does not exist, signed by the real key, nothing unlocks.
    const ghost = issueSessionGrant(
      world.signer,
      { ...claims, sid: 'ses_ghost' },
      { now: world.clock.now },
    );
    await expect(world.gatewayA.client.unlockCredential(ghost)).rejects.toThrow(
      withCode('GH_GRANT_INVALID'),
    );
    expect(deniedReasons(world)).toEqual(['grant-invalid', 'session-not-active']);
  });

  it('tampered-unlock-request-fails-its-signature', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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

  it('sealed-credential-cannot-be-opened-by-another-gateway-key-or-for-another-lease', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const gatewayB = await world.addGateway('gw-b');
    const session = await world.authorize('alice', 'web-1');
    const result = await world.service.unlock(
      unlockRequest(world.gatewayA, world, session.grantToken),
    );
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
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
    expect(opened.toString()).toBe(PASSWORD);
    opened.fill(0);
  });

  it('unlock-that-cannot-be-audited-returns-nothing-and-leaves-no-lease', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const session = await world.authorize('alice', 'web-1');
    world.audit.failNext = true;
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_AUDIT_WRITE_FAILED'),
    );
    expect(world.audit.ofType('credential.unlock')).toEqual([]);
    expect(deniedReasons(world)).toEqual(['audit-failed']);
    expect(await world.db.selectFrom('leases').selectAll().execute()).toEqual([]);
  });

  it('lease-rows-are-written-then-released-by-the-gateway-and-at-session-end', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
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

  it('target-without-a-credential-unlocks-nothing', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice');
    await world.targets.add(
      { name: 'bare', kind: 'ssh', host: '127.0.0.1', port: 22, username: 'deploy' },
      { actor: 'admin' },
    );
    await world.grants.create(
      { subject: { kind: 'user', name: 'alice' }, scope: { kind: 'target', name: 'bare' } },
      { actor: 'admin' },
    );
    const session = await world.authorize('alice', 'bare');
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_NO_CREDENTIAL'),
    );
    expect(deniedReasons(world)).toEqual(['no-credential']);
  });
});
