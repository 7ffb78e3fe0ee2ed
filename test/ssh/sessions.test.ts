import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_STREAM_RECORD_BYTES } from '../../src/ssh/session-channel.js';
import { addSshTarget } from '../support/ssh-target.js';
import { readCast, startSshWorld, type SshWorld } from './fixture.js';
import { readAudit } from './transfer-clients.js';

interface SessionRow {
  sid: string;
  user: string;
  target: string;
  status: string;
  recordings: string[];
}

async function sessions(world: SshWorld, live = false): Promise<SessionRow[]> {
  const run = await world.gatehouse.cli([
    'sessions',
    'list',
    '--json',
    ...(live ? ['--live'] : []),
  ]);
  return run.stdout.trim() === ''
    ? []
    : run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as SessionRow);
}

async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ssh sessions: list, kill, recordings', () => {
  let world: SshWorld;
  beforeAll(async () => {
    world = await startSshWorld();
  }, 60_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
  });

  it('sessions-kill-ends-a-live-session-within-a-second-or-two', async () => {
    const running = world.ssh('web-1 sleep 30');
    const live = await waitUntil(async () =>
      (await sessions(world, true)).find((s) => s.user === 'alice' && s.target === 'web-1'),
    );
    const killedAt = Date.now();
    await world.gatehouse.cli(['sessions', 'kill', live.sid]);
    const result = await running;
    expect(Date.now() - killedAt).toBeLessThan(15_000); // the CLI's own start included; the command would run 30 s
    expect(result.code).not.toBe(0);
    const ended = await waitUntil(async () =>
      (await sessions(world)).find((s) => s.sid === live.sid && s.status !== 'active'),
    );
    expect(ended.status).toBe('terminated');
  });

  it('recording-export-gives-a-valid-asciicast-v3-file-with-the-output', async () => {
    const run = await world.ssh('web-1 echo recorded-output-1234');
    expect(run.stdout.trim()).toBe('recorded-output-1234');
    const row = await waitUntil(async () =>
      (await sessions(world)).find((s) => s.status === 'ended' && s.recordings.length > 0),
    );
    const exported = await world.gatehouse.cli(['recording', 'export', row.sid]);
    const [headerLine, ...events] = exported.stdout.trim().split('\n');
    const header = JSON.parse(headerLine ?? '{}') as {
      version: number;
      gatehouse: { sid: string; user: string; target: string };
    };
    expect(header.version).toBe(3);
    expect(header.gatehouse).toMatchObject({ sid: row.sid, user: 'alice', target: 'web-1' });
    const output = events
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    expect(output).toContain('recorded-output-1234');
    const played = await world.gatehouse.cli(['recording', 'play', row.sid, '--speed', '100']);
    expect(played.stdout).toContain('recorded-output-1234');
    const end = (await readAudit(world, 200)).find(
      (e) => e.type === 'session.end' && e.sid === row.sid,
    );
    expect(end?.data['recordingSha256']).toMatch(/[0-9a-f]{64}/);
  });

  it('a-command-without-a-pty-records-the-head-of-its-output-and-counts-the-rest', async () => {
    const before = new Set((await sessions(world)).map((s) => s.sid));
    // 1 MiB of `a`, then a last line: all of it reaches the client, only the head is recorded.
    const run = await world.ssh(
      `web-1 head -c 1048576 /dev/zero | tr '\\0' a; echo; echo tail-line-5678`,
    );
    expect(run.code).toBe(0);
    expect(run.stdout.length).toBe(1048576 + 1 + 'tail-line-5678\n'.length);
    expect(run.stdout.endsWith('\ntail-line-5678\n')).toBe(true);
    const row = await waitUntil(async () =>
      (await sessions(world)).find(
        (s) => !before.has(s.sid) && s.status === 'ended' && s.recordings.length > 0,
      ),
    );
    const file = join(world.gatehouse.dir, 'recordings', row.recordings[0] ?? '');
    const cast = readCast(file);
    const of = (code: string): string[] =>
      cast.events.filter((e) => e[1] === code).map((e) => e[2]);
    const recorded = of('o').join('');
    expect(recorded.length).toBeGreaterThanOrEqual(DATA_STREAM_RECORD_BYTES);
    expect(recorded.length).toBeLessThan(DATA_STREAM_RECORD_BYTES + 64 * 1024); // the head, and at most one chunk more
    expect(recorded).toMatch(/^a+$/);
    expect(cast.events.some((e) => e[2].includes('tail-line-5678'))).toBe(false); // (the title names the command)
    const notRecorded = of('m').find((m) => m.startsWith('output not recorded: '));
    expect(notRecorded).toBe(
      `output not recorded: ${run.stdout.length - recorded.length} bytes (${run.stdout.length} in all)`,
    );
    expect(of('x')).toEqual(['0']);
    const end = (await readAudit(world, 200)).find(
      (e) => e.type === 'session.end' && e.sid === row.sid,
    );
    expect(JSON.parse(String(end?.data['recordingSha256']))).toEqual([
      createHash('sha256').update(readFileSync(file)).digest('hex'),
    ]);
  });

  it('the-targets-idle-timeout-and-maximum-duration-end-sessions', async () => {
    for (const [name, flag] of [
      ['web-idle', '--idle-timeout'],
      ['web-max', '--max-session'],
    ] as const)
      await addSshTarget(world, name, { flags: [flag, '1'] });
    const started = Date.now();
    const idle = await world.ssh('web-idle sleep 20');
    expect(Date.now() - started).toBeLessThan(15_000); // cut long before the 20 s sleep
    expect(idle.code).not.toBe(0);
    const busyStart = Date.now();
    const busy = await world.ssh('web-max while true; do echo tick; sleep 0.2; done');
    expect(Date.now() - busyStart).toBeLessThan(15_000);
    expect(busy.stdout).toContain('tick');
    const reasons = (await readAudit(world, 300))
      .filter(
        (e) => e.type === 'session.end' && (e.target === 'web-idle' || e.target === 'web-max'),
      )
      .map((e) => e.data['reason']);
    expect(reasons).toEqual(expect.arrayContaining(['idle-timeout', 'max-session-duration']));
  }, 180_000);

  it('a-session-left-open-by-a-killed-gatehouse-ends-as-abandoned-after-restart', async () => {
    const running = world.ssh('web-1 sleep 30');
    const live = await waitUntil(async () =>
      (await sessions(world, true)).find((s) => s.user === 'alice' && s.target === 'web-1'),
    );
    await world.gatehouse.kill();
    await running;
    await world.gatehouse.restart();
    const row = (await sessions(world)).find((s) => s.sid === live.sid);
    expect(row?.status).toBe('abandoned');
    // The end event names what was recorded up to the crash and pins it with its hash.
    const end = world.auditAfter().find((e) => e.type === 'session.end' && e.sid === live.sid);
    const files = JSON.parse(String(end?.data['recording'])) as string[];
    const hashes = JSON.parse(String(end?.data['recordingSha256'])) as string[];
    expect(files).toEqual([expect.stringMatching(new RegExp(`/${live.sid}-\\d+\\.cast$`))]);
    const cast = readFileSync(
      join(world.gatehouse.dir, 'recordings', ...String(files[0]).split('/')),
    );
    expect(hashes).toEqual([createHash('sha256').update(cast).digest('hex')]);
    const verify = await world.gatehouse.cli(['audit', 'verify']);
    expect(verify.stdout).toContain('audit chain OK');
    expect((await world.ssh('web-1 whoami')).stdout.trim()).toBe(world.sshd.account);
  }, 120_000);
});
