import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { startFaultWorld, type FaultWorld, type PtyShell } from './world.js';

// The PostgreSQL store goes away for a few seconds. Nothing may happen unaudited: new logins are
// refused while it is down; Gatehouse does not crash; once it is back, new sessions work and
// the audit chain verifies.
describe('faults: store briefly unavailable (PostgreSQL store)', () => {
  let cluster: PgCluster;
  let world: FaultWorld;
  let bobShell: PtyShell;

  beforeAll(async () => {
    cluster = await startPgCluster({ superPassword: `super-${randomBytes(6).toString('hex')}` });
    world = await startFaultWorld({ gatehouse: { initArgs: ['--store-url', cluster.url] } });
    bobShell = await world.shell('web-1', { key: world.bob });
  }, 180_000);

  afterAll(async () => {
    bobShell?.kill();
    await world?.[Symbol.asyncDispose]();
    await cluster?.stop();
  });

  it('while-the-store-is-down-new-logins-are-refused-and-gatehouse-keeps-running', async () => {
    await cluster.pause({ mode: 'fast' });
    try {
      // LogLevel INFO: OpenSSH prints authentication banners only from that level up.
      const run = await world.ssh('web-1 echo should-not-run', {
        sshOptions: { LogLevel: 'INFO' },
      });
      expect(run.code).toBe(255);
      expect(run.stdout).not.toContain('should-not-run');
      // Not "your password is wrong": the user learns the failure is Gatehouse's, and passing.
      expect(run.stderr).toContain(
        'gatehouse: sign-in is temporarily unavailable; try again shortly',
      );
      expect(run.stderr).not.toMatch(/at .*\.js:\d+/);
      expect(() => process.kill(world.gatehouse.pid, 0)).not.toThrow();
    } finally {
      await cluster.resume();
    }
  }, 180_000);

  it('once-the-store-is-back-new-sessions-work-and-the-chain-verifies', async () => {
    const run = await world.ssh('web-1 echo store-back');
    expect(run.stdout.trim()).toBe('store-back');
    await bobShell.run('echo bob-survived-$((6*7))', 'bob-survived-42');
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);
});
