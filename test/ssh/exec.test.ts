import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshWorld, type SshWorld } from './fixture.js';
import { readAudit } from './transfer-clients.js';

describe('ssh exec through gatehouse', () => {
  let world: SshWorld;
  beforeAll(async () => {
    world = await startSshWorld();
  }, 60_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
  });

  it('runs-a-command-on-the-target-as-the-leased-account', async () => {
    const run = await world.ssh('web-1 whoami');
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(world.sshd.account);
    expect(run.code).toBe(0);
  });

  it('every-login-form-reaches-the-target', async () => {
    expect((await world.ssh('whoami', { login: 'alice+web-1' })).stdout.trim()).toBe(
      world.sshd.account,
    );
    expect((await world.ssh('whoami', { login: 'alice:web-1' })).stdout.trim()).toBe(
      world.sshd.account,
    );
  });

  it('passes-exit-codes-and-keeps-stdout-and-stderr-apart', async () => {
    const run = await world.ssh('web-1 echo out; echo err >&2; exit 7');
    expect(run.stdout).toBe('out\n');
    expect(run.stderr).toBe('err\n');
    expect(run.code).toBe(7);
  });

  it('stdin-reaches-the-command-and-eof-ends-it', async () => {
    const input = 'line one\nline two\n'.repeat(1000);
    const run = await world.ssh('web-1 sha256sum', { input });
    const { createHash } = await import('node:crypto');
    expect(run.stdout.split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'));
  });

  it('an-unknown-or-forbidden-target-gets-access-denied', async () => {
    const run = await world.ssh('db-9 whoami');
    expect(run.code).toBe(255);
    expect(run.stderr).toContain('gatehouse: access denied');
  });

  it('the-audit-log-names-the-person-and-the-command', async () => {
    const events = await readAudit(world, 200);
    const exec = events.find((e) => e.type === 'ssh.exec' && e.data['command'] === 'whoami');
    expect(exec?.user).toBe('alice');
    expect(events.some((e) => e.type === 'credential.unlock' && e.user === 'alice')).toBe(true);
    expect(events.some((e) => e.type === 'session.end' && e.user === 'alice')).toBe(true);
    expect(events.some((e) => e.type === 'access.denied' && e.user === 'alice')).toBe(true);
    const verify = await world.gatehouse.cli(['audit', 'verify']);
    expect(verify.stdout).toContain('audit chain OK');
  });
});
