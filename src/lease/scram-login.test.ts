import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openScratchStore } from '../../test/support/stores.js';
import { makeSigner } from '../crypto/key-files.js';
import { makeIdentityFixture } from '../identity/testing/identity-fixture.js';
import { ScramTestClient } from '../identity/testing/scram-client.js';
import { AccessPolicy } from '../policy/access.js';
import { Grants } from '../policy/grants.js';
import { Targets } from '../policy/targets.js';
import { LeaseService } from './control-plane.js';
import { generateGatewayIdentity } from './gateway-identity.js';
import { Gateways } from './gateways.js';
import { createLocalKeyFile, openLocalKms } from './kms-local.js';
import { verifyUserTicket } from './user-ticket.js';

const PASSWORD = 'alice-pw';

/** The lease service over the real Authenticator (SCRAM runs in identity), with gateway `gw`. */
async function world() {
  const fx = makeIdentityFixture(await openScratchStore('sqlite'));
  const dir = mkdtempSync(join(tmpdir(), 'gh-scram-'));
  createLocalKeyFile(join(dir, 'kms.json'));
  const kms = await openLocalKms(join(dir, 'kms.json'));
  const clock = (): number => fx.now();
  const deps = { db: fx.store.db, audit: fx.audit, clock };
  const targets = new Targets(deps);
  const grants = new Grants(deps);
  const access = new AccessPolicy({
    targets,
    grants,
    audit: fx.audit,
    clock,
    findUser: (n) => fx.users.find(n),
  });
  const signer = makeSigner(generateKeyPairSync('ed25519').privateKey);
  const service = new LeaseService({
    db: fx.store.db,
    audit: fx.audit,
    kms,
    access,
    proofs: fx.auth,
    signer,
    clock,
  });
  const gatewayId = await new Gateways(deps).enrollEmbedded('gw', generateGatewayIdentity('gw'));
  await fx.users.add('alice', { actor: 'test', password: PASSWORD });
  return {
    fx,
    service,
    signer,
    gatewayId,
    [Symbol.asyncDispose]: async () => {
      kms.close?.();
      await fx[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function scramLogin(w: Awaited<ReturnType<typeof world>>, user: string, password: string) {
  const exchange = await w.service.startScram({
    user,
    gatewayId: w.gatewayId,
    clientAddr: '192.0.2.1',
    via: 'postgres',
  });
  const client = new ScramTestClient();
  const serverFirst = await exchange.start(client.clientFirst);
  const done = await exchange.finish(client.clientFinal(serverFirst, password));
  return { client, done };
}

describe('scram login through the lease service', () => {
  it('the-right-password-gives-a-ticket-for-this-gateway-and-a-server-signature', async () => {
    await using w = await world();
    const { client, done } = await scramLogin(w, 'alice', PASSWORD);
    expect(done.user.name).toBe('alice');
    expect(client.isServerFinalValid(done.serverFinal)).toBe(true);
    expect(verifyUserTicket(done.ticket, w.signer.publicKey, w.fx.now())).toMatchObject({
      user: 'alice',
      gateway: w.gatewayId,
    });
    expect(w.fx.audit.last()).toMatchObject({
      type: 'auth.success',
      data: { method: 'postgres-scram' },
    });
  });

  it('a-wrong-password-is-refused-and-audited', async () => {
    await using w = await world();
    await expect(scramLogin(w, 'alice', 'wrong')).rejects.toMatchObject({ code: 'GH_AUTH_FAILED' });
    expect(w.fx.audit.last()).toMatchObject({
      type: 'auth.failure',
      data: { method: 'postgres-scram', reason: 'bad-password' },
    });
  });

  it('a-user-with-totp-cannot-log-in-with-scram-alone', async () => {
    await using w = await world();
    await w.fx.users.enrollTotp('alice', { actor: 'test' });
    await expect(scramLogin(w, 'alice', PASSWORD)).rejects.toMatchObject({
      code: 'GH_AUTH_FAILED',
    });
    expect(w.fx.audit.last()).toMatchObject({
      type: 'auth.failure',
      data: { reason: 'bad-totp', detail: 'scram-cannot-carry-totp' },
    });
  });

  it('an-unknown-gateway-cannot-start-a-login', async () => {
    await using w = await world();
    await expect(
      w.service.startScram({ user: 'alice', gatewayId: 'gw_nope', via: 'postgres' }),
    ).rejects.toMatchObject({ code: 'GH_GATEWAY_REJECTED' });
  });
});
