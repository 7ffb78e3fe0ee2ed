import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/sshd.js';
import { expectFailedSessions, startFaultWorld, type FaultWorld, type PtyShell } from './world.js';

// Target down when a session starts: the client hears which target failed and why, at once;
// the session is recorded as failed, its lease released, and everyone else carries on.
describe('faults: target down at connect', () => {
  let world: FaultWorld;
  let bobShell: PtyShell;

  beforeAll(async () => {
    world = await startFaultWorld();
    // A real sshd whose host key gets pinned, then stopped: the target is known and trusted,
    // only down.
    const downSshd = await world.startSshTarget('web-down');
    await downSshd.stop();
    const closedPort = await freePort();
    await world.addDbTarget('pg-down', {
      kind: 'postgres',
      host: '127.0.0.1',
      port: closedPort,
      username: 'leased',
      password: 'unused-pw-1',
      database: 'app',
    });
    await world.addDbTarget('my-down', {
      kind: 'mysql',
      host: '127.0.0.1',
      port: closedPort,
      username: 'leased',
      password: 'unused-pw-1',
      database: 'app',
    });
    // Bob works on web-1 the whole time.
    bobShell = await world.shell('web-1', { key: world.bob });
  }, 120_000);

  afterAll(async () => {
    bobShell.kill();
    await world[Symbol.asyncDispose]();
  });

  it('ssh-to-a-down-target-says-which-target-cannot-be-reached-and-records-a-failed-session', async () => {
    const run = await world.ssh('web-down uptime');
    expect(run.code).toBe(255);
    expect(run.stderr).toContain('gatehouse: target "web-down" cannot be reached');
    expect(run.stderr).toContain('hint: the target may be down');
    expect(run.stderr).not.toMatch(/at .*\.js:\d+|Error:/);
    await expectFailedSessions(world, 'web-down');
  }, 180_000);

  it('an-interactive-ssh-login-to-a-down-target-is-told-the-same-and-exits', async () => {
    const client = world.sshPty(['web-down']);
    await client.waitFor('target "web-down" cannot be reached', { timeoutMs: 30_000 });
    expect(await client.waitExit(30_000)).toBe(255);
  }, 180_000);

  it('psql-to-a-down-target-gets-08006-naming-the-target', async () => {
    const run = await world.psql('pg-down', ['-c', 'select 1']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('target "pg-down" cannot be reached');
    expect(run.stderr).toContain('the target may be down');
    const client = world.pgClient('pg-down');
    const err = (await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; message?: string };
    expect(err.code).toBe('08006');
    expect(err.message).toBe('target "pg-down" cannot be reached');
    await expectFailedSessions(world, 'pg-down', 2);
  }, 180_000);

  it('mariadb-to-a-down-target-gets-error-1105-naming-the-target', async () => {
    const run = await world.mariadb('my-down', ['-e', 'select 1']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/ERROR 1105 \(08S01\): target "my-down" cannot be reached/);
    await expectFailedSessions(world, 'my-down');
  }, 180_000);

  it('bob-carries-on-and-new-sessions-work-after-the-failures', async () => {
    await bobShell.run('echo bob-still-here-$((6*7))', 'bob-still-here-42');
    const run = await world.ssh('web-1 echo alice-ok');
    expect(run.stdout.trim()).toBe('alice-ok');
    const verify = await world.verify();
    expect(verify.stdout).toContain('audit chain OK');
  }, 180_000);
});
