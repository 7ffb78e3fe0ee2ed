import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSigner } from '../crypto/key-files.js';
import {
  deniedReasons,
  LEASE_STORE_DRIVERS,
  LEASED_PASSWORD,
  openLeaseWorld,
  openSeededLeaseWorld,
  withCode,
} from '../../test/support/lease-world.js';
import { newRequestNonce, signUnlockRequest } from './leases.js';
import {
  SESSION_GRANT_TTL_MS,
  issueSessionGrant,
  readSessionGrantUnverified,
} from './session-grant.js';

describe.each(LEASE_STORE_DRIVERS)('unlock re-checks the grant and policy on %s', (driver) => {
  it('expired-grant-is-refused', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    world.clock.now += SESSION_GRANT_TTL_MS;
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_GRANT_INVALID'),
    );
    expect(deniedReasons(world)).toEqual(['grant-invalid']);
    expect(world.audit.ofType('credential.unlock_denied')[0]?.data['detail']).toMatch(/expired/);
  });

  it('access-grant-revoked-between-authorize-and-unlock-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    const grantId = await world.seedTarget({
      target: 'web-1',
      user: 'alice',
      password: LEASED_PASSWORD,
    });
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
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    await world.db.updateTable('users').set({ disabled: 1 }).where('name', '=', 'alice').execute();
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_ACCESS_DENIED'),
    );
  });

  it('grant-for-gateway-a-presented-by-gateway-b-is-refused', async () => {
    await using world = await openSeededLeaseWorld(driver);
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
    expect(leased.secret.toString()).toBe(LEASED_PASSWORD);
  });

  it('forged-grant-signed-by-another-key-is-refused', async () => {
    await using world = await openSeededLeaseWorld(driver);
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

  it('unlock-that-cannot-be-audited-returns-nothing-and-leaves-no-lease', async () => {
    await using world = await openSeededLeaseWorld(driver);
    const session = await world.authorize('alice', 'web-1');
    world.audit.failNext = true;
    await expect(world.gatewayA.client.unlockCredential(session.grantToken)).rejects.toThrow(
      withCode('GH_AUDIT_WRITE_FAILED'),
    );
    expect(world.audit.ofType('credential.unlock')).toEqual([]);
    expect(deniedReasons(world)).toEqual(['audit-failed']);
    expect(await world.db.selectFrom('leases').selectAll().execute()).toEqual([]);
  });
});
