import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  machinePostgresTarget,
  startFaultWorld,
  waitClosedRecord,
  type FaultWorld,
} from './world.js';

/** Size of the recordings disk: small enough to fill in a moment. */
const DISK = '4m';

// The recordings dir is a small tmpfs. When it is full: new recorded sessions (SSH recordings,
// database transcripts) are refused with a clear message, sessions whose writes fail end and say
// why, targets without recording still work, the audit chain stays whole; once space is freed,
// recorded sessions work again.
describe('faults: recording disk full', () => {
  let world: FaultWorld;
  let recordingsDir = '';
  let isMounted = false;

  beforeAll(async () => {
    world = await startFaultWorld({
      gatehouse: {
        beforeServe: (dir) => {
          recordingsDir = join(dir, 'recordings');
          mkdirSync(recordingsDir, { recursive: true });
          execFileSync('mount', [
            '-t',
            'tmpfs',
            '-o',
            `size=${DISK},mode=0700`,
            'tmpfs',
            recordingsDir,
          ]);
          isMounted = true;
        },
      },
    });
    await world.addSshTarget('web-norec', { recordSessions: false });
    await world.addDbTarget('pg-rec', machinePostgresTarget());
  }, 180_000);

  afterAll(async () => {
    // The mount goes before the data dir is deleted, even when a test failed.
    await world?.gatehouse.stop();
    if (isMounted) spawnSync('umount', ['-l', recordingsDir]);
    await world?.[Symbol.asyncDispose]();
  });

  it('a-recorded-ssh-shell-whose-writes-fail-ends-failed', async () => {
    const shell = await world.shell('web-1');
    const sid = await world.liveSid('web-1');
    // A little room left, then output that cannot fit: the recorder fails part way through.
    fillDisk({ leaveKiB: 256 });
    shell.pty.write('head -c 3000000 /dev/zero | base64 -w 200\r');
    // 255: Gatehouse ends the channel with the notice below and no exit status of the target.
    // (The notice itself is checked without a pty: node-pty drops what a terminal program
    // prints just before it exits, so the pty's output cannot prove it arrived.)
    expect(await shell.pty.waitExit(120_000)).toBe(255);
    const end = await waitClosedRecord(world, sid, 'failed');
    expect(end.data['reason']).toBe('recording-failed');
    freeSpace();
  }, 180_000);

  it('a-recorded-command-whose-writes-fail-is-cut-and-the-client-told-why', async () => {
    const before = new Set((await world.sessions()).map((s) => s.sid));
    fillDisk({ leaveKiB: 64 });
    // A screenful of output fills the client's window before the notice goes out on stderr:
    // this hung until ssh2's window-adjust resume was patched (the stderr write never resumed).
    // `sleep`: the command must still run when the failed write is noticed, else the client
    // rightly gets the command's own exit status.
    const run = await world.ssh('web-1 head -c 3000000 /dev/zero | base64 -w 200; sleep 20', {
      timeoutMs: 120_000,
    });
    freeSpace();
    expect(run.code).toBe(255);
    expect(run.stderr).toContain('gatehouse: the session recording could not be written');
    const sid = (await world.sessions()).find(
      (s) => s.target === 'web-1' && !before.has(s.sid),
    )?.sid;
    expect(sid).toBeDefined();
    const end = await waitClosedRecord(world, sid ?? '', 'failed');
    expect(end.data['reason']).toBe('recording-failed');
  }, 180_000);

  it('a-database-session-whose-transcript-fails-ends-with-a-clear-error', async () => {
    const client = world.pgClient('pg-rec');
    client.on('error', () => undefined);
    await client.connect();
    const sid = await world.liveSid('pg-rec');
    fillDisk();
    const long = 'x'.repeat(8_000);
    let failure: { message?: string } | undefined;
    for (let i = 0; i < 2_000 && failure === undefined; i++) {
      failure = await client.query(`select '${long}' as filler_${i}`).then(
        () => undefined,
        (err: Error) => err,
      );
    }
    await client.end().catch(() => undefined);
    expect(failure?.message).toBe('the session recording could not be written');
    const end = await waitClosedRecord(world, sid, 'failed');
    expect(end.data['reason']).toBe('recording-failed');
  }, 180_000);

  it('while-the-disk-is-full-new-recorded-sessions-are-refused-and-unrecorded-ones-work', async () => {
    fillDisk();
    const ssh = await world.ssh('web-1 echo should-not-run');
    expect(ssh.code).toBe(255);
    expect(ssh.stdout).not.toContain('should-not-run');
    expect(ssh.stderr).toContain('gatehouse: the session recording could not be written');
    expect(ssh.stderr).toContain(
      'hint: recorded sessions are refused until an administrator frees space',
    );
    const psql = await world.psql('pg-rec', ['-c', "select 'should-not-run'"]);
    expect(psql.code).not.toBe(0);
    expect(psql.stdout).not.toContain('should-not-run');
    expect(psql.stderr).toContain('the session recording could not be written');
    const norec = await world.ssh('web-norec echo unrecorded-works');
    expect(norec.stdout.trim()).toBe('unrecorded-works');
    const refused = (await world.sessions()).filter(
      (s) => s.target !== 'web-norec' && s.status !== 'active',
    );
    const events = await world.audit();
    for (const row of refused.slice(0, 2)) {
      const end = events.find((e) => e.sid === row.sid && e.type === 'session.end');
      expect(end?.data['status']).toBe('failed');
    }
  }, 180_000);

  it('once-space-is-freed-recorded-sessions-work-again-and-the-chain-verifies', async () => {
    freeSpace();
    const ssh = await world.ssh('web-1 echo recorded-again');
    expect(ssh.stdout.trim()).toBe('recorded-again');
    const psql = await world.psql('pg-rec', ['-At', '-c', "select 'transcribed-again'"]);
    expect(psql.stdout.trim()).toBe('transcribed-again');
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);

  /** Fills the recordings disk with a filler file, leaving `leaveKiB` free. */
  function fillDisk(options: { readonly leaveKiB?: number } = {}): void {
    const filler = join(recordingsDir, 'filler');
    // dd stops with "No space left on device": that is the point.
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    if (options.leaveKiB !== undefined)
      execFileSync('truncate', ['-s', `-${options.leaveKiB}K`, filler]);
  }

  /** What an administrator does: deletes what is not a recording. */
  function freeSpace(): void {
    rmSync(join(recordingsDir, 'filler'), { force: true });
  }
});
