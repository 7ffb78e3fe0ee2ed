import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeSigner } from '../crypto/key-files.js';
import { LEASE_STORE_DRIVERS, openLeaseWorld, withCode } from '../../test/support/lease-world.js';
import { issueUserTicket, USER_TICKET_TTL_MS } from './user-ticket.js';

const PASSWORD = 'leased-pw-ticket-1';

describe.each(LEASE_STORE_DRIVERS)('user tickets on %s', (driver) => {
  it('a-ticket-from-one-proof-opens-sessions-on-targets-chosen-after-login', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    await world.seedTarget({ target: 'web-2', user: 'alice', password: PASSWORD });
    const auth = await world.service.authenticate({
      proof: world.passwordProof('alice'),
      gatewayId: world.gatewayA.id,
      via: 'ssh',
    });
    expect(auth.user.name).toBe('alice');
    const one = await world.service.authorize({
      ticket: auth.ticket,
      target: 'web-1',
      gatewayId: world.gatewayA.id,
    });
    const two = await world.service.authorize({
      ticket: auth.ticket,
      target: 'web-2',
      gatewayId: world.gatewayA.id,
    });
    expect(one.sid).not.toBe(two.sid);
    await using credential = await world.gatewayA.client.unlockCredential(two.grantToken);
    expect(credential.secret.toString()).toBe(PASSWORD);
  });

  it('a-ticket-is-useless-at-another-gateway-forged-or-expired', async () => {
    await using world = await openLeaseWorld(driver);
    await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const gatewayB = await world.addGateway('gw-b');
    const auth = await world.service.authenticate({
      proof: world.passwordProof('alice'),
      gatewayId: world.gatewayA.id,
    });
    await expect(
      world.service.authorize({ ticket: auth.ticket, target: 'web-1', gatewayId: gatewayB.id }),
    ).rejects.toEqual(withCode('GH_GRANT_INVALID'));
    const forged = issueUserTicket(
      makeSigner(generateKeyPairSync('ed25519').privateKey),
      { user: 'alice', gateway: world.gatewayA.id },
      world.clock.now,
    );
    await expect(
      world.service.authorize({ ticket: forged, target: 'web-1', gatewayId: world.gatewayA.id }),
    ).rejects.toEqual(withCode('GH_GRANT_INVALID'));
    world.clock.now += USER_TICKET_TTL_MS;
    await expect(
      world.service.authorize({
        ticket: auth.ticket,
        target: 'web-1',
        gatewayId: world.gatewayA.id,
      }),
    ).rejects.toEqual(withCode('GH_GRANT_INVALID'));
  });

  it('a-ticket-does-not-outlive-a-revoked-grant', async () => {
    await using world = await openLeaseWorld(driver);
    const grantId = await world.seedTarget({ target: 'web-1', user: 'alice', password: PASSWORD });
    const auth = await world.service.authenticate({
      proof: world.passwordProof('alice'),
      gatewayId: world.gatewayA.id,
    });
    await world.grants.revoke(grantId, { actor: 'admin' });
    await expect(
      world.service.authorize({
        ticket: auth.ticket,
        target: 'web-1',
        gatewayId: world.gatewayA.id,
      }),
    ).rejects.toEqual(withCode('GH_ACCESS_DENIED'));
  });
});
