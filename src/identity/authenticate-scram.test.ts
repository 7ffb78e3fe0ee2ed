import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import { Authenticator } from './authenticate.js';
import { denied } from './testing/denied.js';
import { makeIdentityFixture, type IdentityFixture } from './testing/identity-fixture.js';
import { ScramTestClient } from './testing/scram-client.js';

const by = { actor: 'root' };
const CTX = { clientAddr: '192.0.2.50', method: 'postgres-scram' };
const PASSWORD = 'p\u00e4ss for psql';

async function login(
  fx: IdentityFixture,
  name: string,
  password: string,
  auth: Authenticator = fx.auth,
) {
  const client = new ScramTestClient();
  const scram = await auth.startScram(name, CTX);
  const serverFirst = await scram.start(client.clientFirst);
  return {
    client,
    serverFirst,
    finish: () => scram.finish(client.clientFinal(serverFirst, password)),
  };
}

describe.each(STORE_DRIVERS)('scram authentication on %s', (driver) => {
  async function fixture(): Promise<IdentityFixture> {
    const fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('alice', { ...by, password: PASSWORD });
    return fx;
  }

  it('scram-login-with-the-right-password-returns-user-and-server-signature', async () => {
    await using fx = await fixture();
    const attempt = await login(fx, 'alice', PASSWORD);
    const { user, serverFinal } = await attempt.finish();
    expect(user.name).toBe('alice');
    expect(attempt.client.isServerFinalValid(serverFinal)).toBe(true);
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.success',
      data: { method: 'postgres-scram' },
    });
  });

  it('scram-login-with-a-wrong-password-is-denied-and-counted', async () => {
    await using fx = await fixture();
    for (let i = 0; i < 3; i++) await denied((await login(fx, 'alice', 'wrong')).finish());
    expect(fx.audit.ofType('auth.failure').map((e) => e.data['detail'])).toEqual([
      'scram-bad-proof',
      'scram-bad-proof',
      'scram-bad-proof',
    ]);
    expect(fx.audit.ofType('auth.lockout')).toHaveLength(1);
    await denied((await login(fx, 'alice', PASSWORD)).finish());
    expect(fx.audit.last().data).toMatchObject({ reason: 'locked' });
  });

  it('unknown-user-gets-a-stable-mock-salt-and-is-denied', async () => {
    await using fx = await fixture();
    const salt = (serverFirst: string): string | undefined => /,s=([^,]+),/.exec(serverFirst)?.[1];
    const first = await login(fx, 'ghost', 'x');
    // Another control plane on the same store answers with the same fake salt.
    const second = await login(fx, 'ghost', 'x', new Authenticator(fx.deps));
    expect(salt(first.serverFirst)).toBe(salt(second.serverFirst));
    expect(salt((await login(fx, 'ghost2', 'x')).serverFirst)).not.toBe(salt(first.serverFirst));
    expect(first.serverFirst).toMatch(/,i=4096$/);
    await denied(first.finish());
    expect(fx.audit.last()).toMatchObject({ user: 'ghost', data: { reason: 'unknown-user' } });
  });

  it('disabled-user-scram-is-denied', async () => {
    await using fx = await fixture();
    await fx.users.disable('alice', by);
    await denied((await login(fx, 'alice', PASSWORD)).finish());
    expect(fx.audit.last().data).toMatchObject({ reason: 'disabled' });
  });

  it('malformed-client-first-is-denied', async () => {
    await using fx = await fixture();
    const scram = await fx.auth.startScram('alice', CTX);
    await denied(scram.start('p=tls-server-end-point,,n=,r=abc'));
    expect(fx.audit.last().data).toMatchObject({
      reason: 'bad-password',
      detail: 'scram-unsupported-feature',
    });
  });
});
