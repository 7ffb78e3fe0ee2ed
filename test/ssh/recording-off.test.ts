import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshWorld, waitUntil, type SshWorld } from './fixture.js';

// `target add --no-recording`: no terminal recording for the target's sessions, while every
// command is still audited. (The benchmarks use it to measure what recording costs.)
describe('a target with recording turned off', () => {
  let world: SshWorld;
  beforeAll(async () => {
    world = await startSshWorld({ targetFlags: ['--no-recording'] });
  }, 60_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
  });

  it('a-session-on-a-target-with-recording-off-leaves-no-recording-but-is-audited', async () => {
    const run = await world.ssh('web-1 echo gh-not-recorded');
    expect(run.stdout).toBe('gh-not-recorded\n');
    expect(run.code).toBe(0);
    const exec = world
      .auditAfter()
      .find((e) => e.type === 'ssh.exec' && e.data['command'] === 'echo gh-not-recorded');
    expect(exec?.user).toBe('alice');
    const end = await waitUntil(
      () => world.auditAfter().find((e) => e.type === 'session.end' && e.sid === exec?.sid),
      { what: 'session.end' },
    );
    expect(end.user).toBe('alice');
    expect(world.recordingFiles()).toEqual([]);
    const target = await world.gatehouse.cli(['target', 'list', '--json']);
    expect(JSON.parse(target.stdout.trim().split('\n')[0] ?? '{}')).toMatchObject({
      name: 'web-1',
      options: { recordSessions: false, recordInput: true },
    });
  });
});
