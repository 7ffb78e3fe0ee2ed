import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyFile } from '../crypto/key-files.js';
import { LEASE_STORE_DRIVERS, openLeaseWorld, withCode } from '../../test/support/lease-world.js';
import { generateGatewayIdentity, loadGatewayIdentity } from './gateway-identity.js';

const tmp = mkdtempSync(join(tmpdir(), 'gh-gw-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('gateway identity', () => {
  it('loads-the-keys-made-by-init-and-refuses-swapped-ones', () => {
    const paths = { signingKey: join(tmp, 'a-sign.key'), sealingKey: join(tmp, 'a-seal.key') };
    generateKeyFile(paths.signingKey, 'ed25519');
    generateKeyFile(paths.sealingKey, 'x25519');
    const identity = loadGatewayIdentity('embedded', paths);
    expect(identity.signer.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(identity.sealPrivateKey.asymmetricKeyType).toBe('x25519');
    expect(() =>
      loadGatewayIdentity('x', { signingKey: paths.sealingKey, sealingKey: paths.signingKey }),
    ).toThrow(withCode('GH_INVALID_ARGUMENT'));
    expect(() =>
      loadGatewayIdentity('x', { signingKey: join(tmp, 'missing'), sealingKey: paths.sealingKey }),
    ).toThrow(withCode('GH_CONFIG_INVALID'));
  });

  it('generates-owner-only-key-files-for-a-remote-gateway-and-never-overwrites', () => {
    const paths = { signingKey: join(tmp, 'r/sign.key'), sealingKey: join(tmp, 'r/seal.key') };
    const made = generateGatewayIdentity('remote-1', paths);
    expect(statSync(paths.signingKey).mode & 0o777).toBe(0o600);
    expect(loadGatewayIdentity('remote-1', paths).signPublicKey).toBe(made.signPublicKey);
    expect(() => generateGatewayIdentity('remote-1', paths)).toThrow(withCode('GH_ALREADY_EXISTS'));
  });
});

describe.each(LEASE_STORE_DRIVERS)('gateways on %s', (driver) => {
  it('enroll-token-is-single-use-stored-only-as-a-hash-and-audited', async () => {
    await using world = await openLeaseWorld(driver);
    const { token, expiresAt } = await world.gateways.createEnrollToken('remote-1', {
      ttlMs: 600_000,
      actor: 'admin',
    });
    expect(expiresAt).toBe(world.clock.now + 600_000);
    const rows = await world.db.selectFrom('enroll_tokens').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);

    const identity = generateGatewayIdentity('remote-1');
    const id = await world.gateways.enroll(token, { ...identity, name: 'remote-1' });
    expect((await world.gateways.find(id))?.status).toBe('active');
    const other = generateGatewayIdentity('remote-1');
    await expect(world.gateways.enroll(token, { ...other, name: 'remote-1' })).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    expect(world.audit.ofType('admin.gateway.enroll_token')[0]?.data).toMatchObject({
      by: 'admin',
      name: 'remote-1',
    });
    expect(world.audit.ofType('admin.gateway.enroll').map((e) => e.data['outcome'])).toEqual([
      'enrolled',
      'enrolled',
      'refused',
    ]);
    expect(JSON.stringify(world.audit.events)).not.toContain(token);
  });

  it('expired-unknown-or-misnamed-enroll-tokens-are-refused', async () => {
    await using world = await openLeaseWorld(driver);
    const identity = generateGatewayIdentity('remote-2');
    const { token } = await world.gateways.createEnrollToken('remote-2', {
      ttlMs: 1000,
      actor: 'admin',
    });
    await expect(world.gateways.enroll(token, { ...identity, name: 'remote-3' })).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    await expect(
      world.gateways.enroll(`${token}x`, { ...identity, name: 'remote-2' }),
    ).rejects.toThrow(withCode('GH_GATEWAY_REJECTED'));
    world.clock.now += 1000;
    await expect(world.gateways.enroll(token, { ...identity, name: 'remote-2' })).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    const reasons = world.audit
      .ofType('admin.gateway.enroll')
      .slice(1)
      .map((e) => e.data['reason']);
    expect(reasons).toEqual(['name-mismatch', 'unknown-token', 'token-expired']);
    expect((await world.gateways.list()).map((g) => g.name)).toEqual(['gw-a']);
  });

  it('embedded-enrollment-is-idempotent-but-refuses-other-keys-and-revoked-gateways', async () => {
    await using world = await openLeaseWorld(driver);
    const again = await world.gateways.enrollEmbedded('gw-a', world.gatewayA.identity);
    expect(again).toBe(world.gatewayA.id);
    await expect(
      world.gateways.enrollEmbedded('gw-a', generateGatewayIdentity('gw-a')),
    ).rejects.toThrow(withCode('GH_GATEWAY_REJECTED'));
    await expect(world.gateways.enrollEmbedded('gw-z', world.gatewayA.identity)).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    const revoked = await world.gateways.revoke('gw-a', { actor: 'admin' });
    expect(revoked).toMatchObject({ status: 'revoked', revokedAt: world.clock.now });
    await expect(world.gateways.enrollEmbedded('gw-a', world.gatewayA.identity)).rejects.toThrow(
      withCode('GH_GATEWAY_REJECTED'),
    );
    await expect(world.gateways.revoke(world.gatewayA.id, { actor: 'admin' })).rejects.toThrow(
      withCode('GH_INVALID_ARGUMENT'),
    );
    expect(world.audit.ofType('admin.gateway.revoke')[0]).toMatchObject({
      gateway: world.gatewayA.id,
      data: { by: 'admin' },
    });
  });

  it('enrollment-that-cannot-be-audited-does-not-happen', async () => {
    await using world = await openLeaseWorld(driver);
    world.audit.failNext = true;
    await expect(
      world.gateways.enrollEmbedded('gw-b', generateGatewayIdentity('gw-b')),
    ).rejects.toThrow(withCode('GH_AUDIT_WRITE_FAILED'));
    world.audit.failNext = true;
    await expect(
      world.gateways.createEnrollToken('gw-c', { ttlMs: 1000, actor: 'admin' }),
    ).rejects.toThrow(withCode('GH_AUDIT_WRITE_FAILED'));
    expect((await world.gateways.list()).map((g) => g.name)).toEqual(['gw-a']);
    expect(await world.db.selectFrom('enroll_tokens').selectAll().execute()).toEqual([]);
  });
});
