import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCast } from '../ssh/fixture.js';
import type { Sshd } from '../support/sshd.js';
import {
  eventually,
  waitClosedRecord,
  startFaultWorld,
  type FaultWorld,
  type PtyShell,
} from './world.js';

// The target's sshd restarts (its sessions killed) while a session runs through Gatehouse: the
// client is told, the recording holds everything up to the cut and its hash is in the chain,
// the session ends `failed`, the lease is released, and the next session works.
describe('faults: ssh target restarted mid-session', () => {
  let world: FaultWorld;
  let restarting: Sshd;
  let bobShell: PtyShell;

  beforeAll(async () => {
    world = await startFaultWorld();
    restarting = await world.startSshTarget('web-2');
    bobShell = await world.shell('web-1', { key: world.bob });
  }, 180_000);

  afterAll(async () => {
    bobShell.kill();
    await world[Symbol.asyncDispose]();
  });

  it('a-long-command-cut-by-a-target-restart-tells-the-client-and-keeps-its-recording', async () => {
    const client = world.sshPty([
      'web-2',
      'for i in $(seq 1 600); do echo tick-$i; sleep 0.2; done',
    ]);
    await client.waitFor('tick-3', { timeoutMs: 60_000 });
    const sid = await world.liveSid('web-2', 'alice');
    await restarting.restart({ dropConnections: true });
    await client.waitFor('the connection to target "web-2" was lost', { timeoutMs: 60_000 });
    expect(await client.waitExit(30_000)).toBe(255);
    await expectCutRecord(sid, 'tick-3');
  }, 180_000);

  it('an-interactive-shell-cut-by-a-target-restart-ends-the-same-way', async () => {
    const shell = await world.shell('web-2');
    await shell.run('echo before-restart-$((40+2))', 'before-restart-42');
    const sid = await world.liveSid('web-2', 'alice');
    await restarting.restart({ dropConnections: true });
    await shell.pty.waitFor('the connection to target "web-2" was lost', { timeoutMs: 60_000 });
    expect(await shell.pty.waitExit(30_000)).toBe(255);
    await expectCutRecord(sid, 'before-restart-42');
  }, 180_000);

  it('after-the-restart-new-sessions-work-bob-carried-on-and-the-chain-verifies', async () => {
    const run = await world.ssh('web-2 echo back-again');
    expect(run.stdout.trim()).toBe('back-again');
    await bobShell.run('echo bob-unaffected-$((6*7))', 'bob-unaffected-42');
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);

  /** Failed in the list and the chain, lease released, recording readable up to `lastOutput`. */
  async function expectCutRecord(sid: string, lastOutput: string): Promise<void> {
    const row = await eventually(async () =>
      (await world.sessions()).find((s) => s.sid === sid && s.status !== 'active'),
    );
    expect(row.status).toBe('failed');
    const end = await waitClosedRecord(world, sid, 'failed');
    expect(end.data['reason']).toBe('target-disconnected');
    expect(row.recordings).toHaveLength(1);
    const path = join(world.gatehouse.dir, 'recordings', row.recordings[0] ?? '');
    const cast = readCast(path);
    expect(cast.header['version']).toBe(3);
    const output = cast.events
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    expect(output).toContain(lastOutput);
    const hashes = JSON.parse(String(end.data['recordingSha256'])) as string[];
    expect(hashes).toEqual([createHash('sha256').update(readFileSync(path)).digest('hex')]);
  }
});
