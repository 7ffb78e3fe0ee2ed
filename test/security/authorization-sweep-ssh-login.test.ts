import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type AuditLine } from '../ssh/fixture.js';
import { addSshTarget } from '../support/ssh-target.js';
import {
  expectAudited,
  expectEveryColumnGranted,
  expectEveryColumnRefused,
  startSshSweep,
  TARGET,
  type SshSweep,
  type SweepUser,
} from './ssh-sweep.js';

// Authorization sweep, SSH, the login rows: a disabled or locked-out user gets no channel of any
// type (the login itself is refused, so no channel can even be asked for), and each attempt is
// audited; the same user, enabled or before the lock, gets every channel. Also: a grant that
// expires during a live session ends it, and a target typed at the menu that the user may not
// reach is refused and audited.
const PASSWORD = 'sweep-Passw0rd-e2e';
let sweep: SshSweep;
let dora: SweepUser;
let luke: SweepUser;

/** One password login with the ssh2 client; true when it got in. */
function passwordLogin(user: string, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let isReady = false;
    client.on('ready', () => {
      isReady = true;
      client.end();
    });
    client.on('error', () => undefined);
    client.on('close', () => resolve(isReady));
    client.connect({
      host: '127.0.0.1',
      port: sweep.world.gatehouse.sshPort,
      username: user,
      password,
      tryKeyboard: false,
      readyTimeout: 30_000,
    });
  });
}

function lastOfType(type: string, user: string): AuditLine | undefined {
  return sweep.world
    .auditAfter(0)
    .filter((e) => e.type === type && e.user === user)
    .at(-1);
}

/**
 * Keeps luke locked while the columns run: a lock lasts 30 s at first; when fewer than 10 s are
 * left, wait for it to pass and fail once more (the next lock is twice as long).
 */
async function ensureLocked(): Promise<void> {
  const until = Number(lastOfType('auth.lockout', 'luke')?.data['lockedUntil'] ?? 0);
  if (Date.now() < until - 10_000) return;
  await waitUntil(() => (Date.now() > until ? true : undefined), {
    timeoutMs: 60_000,
    what: 'the lock to pass',
  });
  const seq = sweep.lastSeq();
  expect(await passwordLogin('luke', 'wrong-again')).toBe(false);
  await expectAudited(sweep, seq, [{ type: 'auth.lockout', user: 'luke' }], 'a new lock');
}

beforeAll(async () => {
  sweep = await startSshSweep();
  [dora, luke] = await Promise.all([
    sweep.addUser('dora', { password: PASSWORD }),
    sweep.addUser('luke', { password: PASSWORD }),
  ]);
  await Promise.all(['dora', 'luke'].map((u) => sweep.grant(u, 3_600_000)));
}, 300_000);

afterAll(async () => {
  await sweep?.[Symbol.asyncDispose]();
});

describe('ssh authorization sweep: users refused at login', () => {
  it('disabled: every channel and request is refused at login, nothing reaches the target, each attempt is audited', async () => {
    await sweep.cp.users.disable('dora', { actor: 'sweep' });
    // The key is refused when offered (the client never signs): audited once per connection.
    await expectEveryColumnRefused(sweep, dora, () => [
      {
        type: 'auth.failure',
        user: 'dora',
        data: { reason: 'no-accepted-key', fingerprints: [dora.key.fingerprint] },
      },
    ]);
    // With the right password the refusal names the real reason.
    const seq = sweep.lastSeq();
    expect(await passwordLogin('dora', PASSWORD)).toBe(false);
    await expectAudited(
      sweep,
      seq,
      [
        {
          type: 'auth.failure',
          user: 'dora',
          data: { method: 'ssh-password', reason: 'disabled' },
        },
      ],
      'the disabled password login',
    );
  }, 400_000);

  it('disabled then enabled: the same user gets every channel (positive control)', async () => {
    await sweep.cp.users.enable('dora', { actor: 'sweep' });
    await expectEveryColumnGranted(sweep, dora);
  }, 240_000);

  it('locked out: the user had every channel; once locked, even the right key gets nothing, audited as locked', async () => {
    await expectEveryColumnGranted(sweep, luke);
    const seq = sweep.lastSeq();
    for (let i = 0; i < 5; i += 1) expect(await passwordLogin('luke', `wrong-${i}`)).toBe(false);
    await expectAudited(
      sweep,
      seq,
      [{ type: 'auth.lockout', user: 'luke', data: { failures: 5 } }],
      'the lockout',
    );
    expect(await passwordLogin('luke', PASSWORD)).toBe(false);
    await expectEveryColumnRefused(
      sweep,
      luke,
      () => [
        { type: 'auth.failure', user: 'luke', data: { method: 'ssh-publickey', reason: 'locked' } },
      ],
      { before: ensureLocked },
    );
  }, 600_000);
});

describe('ssh access that ends during a live session, and the menu', () => {
  it('a-grant-that-expires-during-a-live-session-ends-it-and-the-next-attempt-is-audited-as-grant-expired', async () => {
    const xena = await sweep.addUser('xena');
    const granted = await sweep.grant('xena', 25_000);
    const seq = sweep.lastSeq();
    const shell = sweep.world.sshPty([TARGET, 'echo started; sleep 300'], {
      login: 'xena',
      key: xena.key,
    });
    await shell.waitFor('started', { timeoutMs: 60_000 });
    expect(Date.now()).toBeLessThan(granted.expiresAt);
    // Live sessions re-check access every 2 s.
    expect(await shell.waitExit(90_000)).not.toBe(0);
    expect(Date.now()).toBeGreaterThanOrEqual(granted.expiresAt);
    const events = await expectAudited(
      sweep,
      seq,
      [{ type: 'session.end', user: 'xena', target: TARGET, data: { status: 'terminated' } }],
      'the end of the session',
    );
    expect(
      String(events.find((e) => e.type === 'session.end' && e.user === 'xena')?.data['reason']),
    ).toContain('access ended');
    const again = await sweep.openssh(xena, [`xena@127.0.0.1`, `${TARGET} echo should-not-run`]);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain('gatehouse: access denied');
    const denied = await expectAudited(
      sweep,
      seq,
      [{ type: 'access.denied', user: 'xena', target: TARGET, data: { reason: 'grant-expired' } }],
      'the refusal after expiry',
    );
    expect(denied.filter((e) => e.type === 'credential.unlock' && e.user === 'xena')).toHaveLength(
      1,
    );
  }, 240_000);

  it('a-target-typed-at-the-menu-that-the-user-may-not-reach-is-refused-and-audited', async () => {
    const mia = await sweep.addUser('mia');
    const { gatehouse, sshd } = sweep.world;
    await addSshTarget({ gatehouse, sshd }, 'web-2', { grantTo: 'mia' });
    const seq = sweep.lastSeq();
    const logMark = sshd.readLog().length;
    const refused = sweep.world.sshPty([], { login: 'mia', key: mia.key });
    await refused.waitFor('target> ', { timeoutMs: 60_000 });
    expect(refused.output()).toContain('web-2');
    expect(refused.output()).not.toContain(TARGET);
    refused.write(`${TARGET}\r`);
    await refused.waitFor('no such target', { timeoutMs: 30_000 });
    expect(await refused.waitExit(30_000)).toBe(1);
    const events = await expectAudited(
      sweep,
      seq,
      [
        {
          type: 'ssh.request_denied',
          user: 'mia',
          data: { request: 'menu', choice: TARGET, reason: 'not-reachable' },
        },
      ],
      'the menu refusal',
    );
    expect(
      events.filter(
        (e) => e.user === 'mia' && ['credential.unlock', 'session.start'].includes(e.type),
      ),
    ).toEqual([]);
    expect(sshd.readLog().slice(logMark)).not.toMatch(/Accepted publickey/);
    // Positive control: the target she may reach, chosen the same way, gives a shell there.
    const chosen = sweep.world.sshPty([], { login: 'mia', key: mia.key });
    await chosen.waitFor('target> ', { timeoutMs: 60_000 });
    chosen.write('web-2\r');
    await chosen.waitFor(/\$ $/m, { timeoutMs: 60_000 });
    chosen.write('echo menu-$((6*7)); exit\r');
    await chosen.waitFor('menu-42', { timeoutMs: 30_000 });
    expect(await chosen.waitExit(30_000)).toBe(0);
    await expectAudited(
      sweep,
      seq,
      [{ type: 'credential.unlock', user: 'mia', target: 'web-2' }],
      'the unlock for web-2',
    );
  }, 300_000);
});
