import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import { denied } from './testing/denied.js';
import { makeIdentityFixture, type IdentityFixture } from './testing/identity-fixture.js';
import { base32Decode, totpCode, totpStepAt } from './totp.js';

const by = { actor: 'root' };
const CTX = { clientAddr: '203.0.113.9', method: 'ssh-totp' };

describe.each(STORE_DRIVERS)('totp authentication on %s', (driver) => {
  async function enrolled(): Promise<IdentityFixture & { readonly secret: Buffer }> {
    const fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('alice', by);
    const uri = await fx.users.enrollTotp('alice', by);
    const secret = base32Decode(new URL(uri).searchParams.get('secret') ?? '');
    if (secret === undefined) throw new Error('no secret in the otpauth URI');
    return { ...fx, secret };
  }

  it('current-totp-code-authenticates', async () => {
    await using fx = await enrolled();
    const secret = fx.secret;
    const user = await fx.auth.verifyTotp('alice', totpCode(secret, totpStepAt(fx.now())), CTX);
    expect(user).toMatchObject({ name: 'alice', hasTotp: true });
    expect(fx.audit.last()).toMatchObject({ type: 'auth.success', data: { method: 'ssh-totp' } });
  });

  it('totp-code-cannot-be-replayed', async () => {
    await using fx = await enrolled();
    const secret = fx.secret;
    const step = totpStepAt(fx.now());
    const code = totpCode(secret, step);
    await fx.auth.verifyTotp('alice', code, CTX);
    await denied(fx.auth.verifyTotp('alice', code, CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'bad-totp', detail: 'replayed-code' });
    // An earlier, still-in-window code is refused too once a later one was used…
    await denied(fx.auth.verifyTotp('alice', totpCode(secret, step - 1), CTX));
    // …while the next step's code works.
    fx.advance(30_000);
    await fx.auth.verifyTotp('alice', totpCode(secret, step + 1), CTX);
  });

  it('wrong-totp-codes-count-toward-lockout', async () => {
    await using fx = await enrolled();
    const secret = fx.secret;
    const right = totpCode(secret, totpStepAt(fx.now()));
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 0; i < 3; i++) await denied(fx.auth.verifyTotp('alice', wrong, CTX));
    expect(fx.audit.ofType('auth.lockout')).toHaveLength(1);
    await denied(fx.auth.verifyTotp('alice', right, CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'locked' });
    // The right code refused while locked was not consumed: once the lock is over (30 s, so
    // its step is still inside the ±1 window) the same code works.
    fx.advance(30_000);
    await fx.auth.verifyTotp('alice', right, CTX);
  });

  it('user-without-totp-is-refused', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('bob', by);
    await denied(fx.auth.verifyTotp('bob', '123456', CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'bad-totp', detail: 'not-enrolled' });
    await denied(fx.auth.verifyTotp('nobody', '123456', CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'unknown-user' });
  });

  it('re-enrolment-invalidates-the-old-secret', async () => {
    await using fx = await enrolled();
    const secret = fx.secret;
    await fx.users.enrollTotp('alice', by);
    await denied(fx.auth.verifyTotp('alice', totpCode(secret, totpStepAt(fx.now())), CTX));
  });
});
