import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import { lockDurationS } from './lockout.js';
import { denied } from './testing/denied.js';
import {
  makeIdentityFixture,
  TEST_CTX,
  TEST_LOCKOUT,
  type IdentityFixture,
} from './testing/identity-fixture.js';

const by = { actor: 'root' };
const PASSWORD = 'right horse battery';

function failureReasons(fx: IdentityFixture): unknown[] {
  return fx.audit.ofType('auth.failure').map((e) => e.data['reason']);
}

describe('lockout policy', () => {
  it('lock-length-doubles-from-threshold-and-is-capped', () => {
    const policy = { threshold: 3, baseDelayS: 30, maxDelayS: 240 };
    expect([1, 2, 3, 4, 5, 6, 7, 100, 1e9].map((n) => lockDurationS(policy, n))).toEqual([
      0, 0, 30, 60, 120, 240, 240, 240, 240,
    ]);
  });
});

describe.each(STORE_DRIVERS)('password authentication on %s', (driver) => {
  async function fixtureWithAlice(): Promise<IdentityFixture> {
    const fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('alice', { ...by, password: PASSWORD });
    return fx;
  }

  it('right-password-authenticates-and-audits-success', async () => {
    await using fx = await fixtureWithAlice();
    const user = await fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX);
    expect(user).toMatchObject({ name: 'alice', roles: ['user'] });
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.success',
      user: 'alice',
      clientAddr: '192.0.2.7',
      data: { method: 'ssh-password' },
    });
  });

  it('wrong-password-is-denied-and-audited', async () => {
    await using fx = await fixtureWithAlice();
    await denied(
      fx.auth.verifyPassword('alice', 'wrong horse', { ...TEST_CTX, sid: 'ses_1', gateway: 'gw1' }),
    );
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.failure',
      user: 'alice',
      clientAddr: '192.0.2.7',
      sid: 'ses_1',
      gateway: 'gw1',
      data: { method: 'ssh-password', reason: 'bad-password', failures: 1 },
    });
    expect(JSON.stringify(fx.audit.events)).not.toContain('wrong horse');
  });

  it('unknown-user-is-denied-the-same-way-and-costs-a-hash', async () => {
    await using fx = await fixtureWithAlice();
    await denied(fx.auth.verifyPassword('mallory', 'x', TEST_CTX)); // warms the dummy hash
    const time = async (name: string): Promise<number> => {
      const start = performance.now();
      await denied(fx.auth.verifyPassword(name, 'not it', TEST_CTX));
      return performance.now() - start;
    };
    let unknown = 0;
    let known = 0;
    for (let i = 0; i < 2; i++) {
      unknown += await time('mallory');
      known += await time('alice');
    }
    // Both run one scrypt; only a gross difference (no hashing at all) would fail this.
    expect(unknown).toBeGreaterThan(known * 0.3);
    expect(
      fx.audit
        .ofType('auth.failure')
        .filter((e) => e.user === 'mallory')
        .map((e) => e.data['reason']),
    ).toEqual(['unknown-user', 'unknown-user', 'unknown-user']);
  });

  it('claimed-name-that-cannot-be-a-user-is-not-recorded', async () => {
    await using fx = await fixtureWithAlice();
    await denied(fx.auth.verifyPassword('Tr0ub4dor&3', 'x', TEST_CTX));
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.failure',
      user: null,
      data: { reason: 'unknown-user' },
    });
    expect(JSON.stringify(fx.audit.events)).not.toContain('Tr0ub4dor');
  });

  it('disabled-user-is-denied-even-with-the-right-password', async () => {
    await using fx = await fixtureWithAlice();
    await fx.users.disable('alice', by);
    await denied(fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX));
    expect(failureReasons(fx)).toEqual(['disabled']);
    await fx.users.enable('alice', by);
    await fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX);
  });

  it('user-without-a-password-cannot-log-in-with-one', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('keyonly', by);
    await denied(fx.auth.verifyPassword('keyonly', '', TEST_CTX));
    expect(fx.audit.last().data).toMatchObject({
      reason: 'bad-password',
      detail: 'no-password-set',
    });
  });

  it('lockout-starts-after-threshold-and-backs-off', async () => {
    await using fx = await fixtureWithAlice();
    const wrong = (): Promise<unknown> => denied(fx.auth.verifyPassword('alice', 'nope', TEST_CTX));
    await wrong();
    await wrong();
    expect(fx.audit.ofType('auth.lockout')).toHaveLength(0);
    await wrong(); // third consecutive failure: locked for base = 30 s
    expect(fx.audit.ofType('auth.lockout').at(-1)?.data).toMatchObject({ failures: 3, lockS: 30 });

    // While locked, even the right password fails, audited as `locked`, and does not count.
    fx.advance(29_000);
    await denied(fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX));
    expect(fx.audit.last().data).toMatchObject({ reason: 'locked' });
    expect(fx.audit.ofType('auth.lockout')).toHaveLength(1);

    // Each further failure after a lock ends doubles the lock, up to the maximum (240 s).
    for (const expected of [60, 120, 240, 240]) {
      fx.advance(lockDurationS(TEST_LOCKOUT, 10) * 1000);
      await wrong();
      expect(fx.audit.ofType('auth.lockout').at(-1)?.data['lockS']).toBe(expected);
    }
    expect(fx.audit.ofType('auth.lockout').map((e) => e.data['failures'])).toEqual([3, 4, 5, 6, 7]);

    // Once the lock is over, the right password works and resets the count.
    fx.advance(240_000);
    await fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX);
    await wrong();
    await wrong();
    expect(fx.audit.ofType('auth.lockout')).toHaveLength(5);
    const row = await fx.store.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(row.failed_count).toBe(2);
  });

  it('success-resets-the-failure-count', async () => {
    await using fx = await fixtureWithAlice();
    for (let i = 0; i < 2; i++) await denied(fx.auth.verifyPassword('alice', 'nope', TEST_CTX));
    await fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX);
    for (let i = 0; i < 2; i++) await denied(fx.auth.verifyPassword('alice', 'nope', TEST_CTX));
    expect(fx.audit.ofType('auth.lockout')).toHaveLength(0);
  });

  it('parallel-guesses-cannot-outrun-the-lockout', async () => {
    await using fx = await fixtureWithAlice();
    const attempts = Array.from({ length: 6 }, (_, i) =>
      denied(fx.auth.verifyPassword('alice', i === 5 ? PASSWORD : `guess-${i}`, TEST_CTX)),
    );
    await Promise.all(attempts);
    // Attempts are judged one after another: three failures, then the lock refuses the rest,
    // including the one carrying the right password.
    expect(failureReasons(fx)).toEqual([
      'bad-password',
      'bad-password',
      'bad-password',
      'locked',
      'locked',
      'locked',
    ]);
  });

  it('a-failed-audit-write-denies-the-login', async () => {
    await using fx = await fixtureWithAlice();
    fx.audit.isFailing = true;
    await expect(fx.auth.verifyPassword('alice', PASSWORD, TEST_CTX)).rejects.toThrow(
      'audit store down',
    );
  });
});
