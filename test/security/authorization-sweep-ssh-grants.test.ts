import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../ssh/fixture.js';
import {
  expectEveryColumnGranted,
  expectEveryColumnRefused,
  SSH_COLUMNS,
  startSshSweep,
  type SshSweep,
  type SweepUser,
} from './ssh-sweep.js';

// Authorization sweep, SSH, the grant rows: a user who logs in fine but has no grant, an
// expired one or a revoked one gets no channel of any type, and each attempt is audited with
// why; the same user with a valid grant gets every channel (the positive control).
let sweep: SshSweep;
const users: Record<'nina' | 'eddie' | 'rita', SweepUser> = {} as Record<
  'nina' | 'eddie' | 'rita',
  SweepUser
>;

async function grant(user: string, durationMs: number): Promise<{ id: string; expiresAt: number }> {
  return sweep.grant(user, durationMs);
}

beforeAll(async () => {
  sweep = await startSshSweep();
  [users.nina, users.eddie, users.rita] = await Promise.all([
    sweep.addUser('nina'),
    sweep.addUser('eddie'),
    sweep.addUser('rita'),
  ]);
}, 300_000);

afterAll(async () => {
  await sweep?.[Symbol.asyncDispose]();
});

describe('ssh authorization sweep: users who log in but may not reach the target', () => {
  it('the-sweep-covers-every-channel-and-request-type', () => {
    expect(SSH_COLUMNS.map((c) => c.name)).toHaveLength(18);
  });

  it('no-grant: every channel and request is refused, nothing reaches the target, each attempt is audited', async () => {
    await expectEveryColumnRefused(sweep, users.nina, (c) => c.deniedEvents('nina', 'no-grant'));
  }, 300_000);

  it('no-grant then granted: the same user gets every channel (positive control)', async () => {
    await grant('nina', 3_600_000);
    await expectEveryColumnGranted(sweep, users.nina);
  }, 180_000);

  it('expired grant: every channel and request is refused and audited as grant-expired', async () => {
    const short = await grant('eddie', 2_000);
    await waitUntil(() => (Date.now() > short.expiresAt + 100 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the grant to expire',
    });
    await expectEveryColumnRefused(sweep, users.eddie, (c) =>
      c.deniedEvents('eddie', 'grant-expired'),
    );
  }, 300_000);

  it('expired grant then a new one: the same user gets every channel (positive control)', async () => {
    await grant('eddie', 3_600_000);
    await expectEveryColumnGranted(sweep, users.eddie);
  }, 180_000);

  it('revoked grant: the user had every channel, then after revoke gets none, audited as grant-revoked', async () => {
    const granted = await grant('rita', 3_600_000);
    await expectEveryColumnGranted(sweep, users.rita);
    await sweep.cp.grants.revoke(granted.id, { actor: 'sweep' });
    await expectEveryColumnRefused(sweep, users.rita, (c) =>
      c.deniedEvents('rita', 'grant-revoked'),
    );
  }, 400_000);
});
