import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLatencyRelay, type LatencyRelay } from '../support/latency-relay.js';
import { addSshTarget } from '../support/ssh-target.js';
import { readCast, startSshWorld, waitUntil, type PtySsh, type SshWorld } from './fixture.js';

/** Typed at a `read -s` prompt on the far target: it must never be kept anywhere. */
const CANARY = 'Far-Secret-canary-9182';
/** A bash prompt at the very end of the output (readline may add `ESC[K`). */
const PROMPT = /\$ (\x1b\[[0-9;?]*[A-Za-z])*$/;
/**
 * Added to every chunk each way between Gatehouse and the target: a round trip takes at least
 * 400 ms, longer than the fixed 250 ms echo window that masked every key of such targets.
 */
const ONE_WAY_DELAY_MS = 200;

/** Types `line` + Enter at the prompt and resolves with what was printed up to the next prompt. */
async function runLine(shell: PtySsh, line: string): Promise<string> {
  const from = shell.output().length;
  shell.write(`${line}\r`);
  await shell.waitFor(PROMPT, { from, timeoutMs: 15_000 });
  return shell.output().slice(from);
}

describe('a shell on a far target (400 ms round trip): the echo window follows it', () => {
  let world: SshWorld;
  let relay: LatencyRelay;
  let sid: string;

  beforeAll(async () => {
    world = await startSshWorld();
    relay = await startLatencyRelay(world.sshd, { delayMs: ONE_WAY_DELAY_MS });
    // The same sshd, reached through the relay: far-1's address is the relay's.
    await addSshTarget(
      { gatehouse: world.gatehouse, sshd: { ...world.sshd, port: relay.port } },
      'far-1',
    );
  }, 120_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
    await relay[Symbol.asyncDispose]();
  });

  /** The session's recording and the keys it kept, in one string. */
  const recorded = (): { cast: ReturnType<typeof readCast>; typed: string } => {
    const path = world.recordingFiles().find((p) => p.endsWith(`/${sid}-1.cast`)) ?? '';
    const cast = readCast(path);
    const typed = cast.events
      .filter((e) => e[1] === 'i')
      .map((e) => e[2])
      .join('');
    return { cast, typed };
  };

  it('typed-commands-and-a-no-echo-password-reach-the-far-target', async () => {
    const shell = world.sshPty(['far-1'], { cols: 100, rows: 30 });
    await shell.waitFor(PROMPT, { timeoutMs: 30_000 });
    expect(await runLine(shell, 'echo far-output-$((6*7))')).toContain('far-output-42\r\n');
    // Key by key, as a person types: each key's echo comes back a round trip later.
    const from = shell.output().length;
    for (const key of 'whoami') {
      const at = shell.output().length;
      shell.write(key);
      await shell.waitFor(key, { from: at, timeoutMs: 15_000 });
    }
    shell.write('\r');
    await shell.waitFor(PROMPT, { from, timeoutMs: 15_000 });
    expect(shell.output().slice(from)).toContain(`${world.sshd.account}\r\n`);

    const before = shell.output().length;
    // The prompt text is built by the shell, so its echo is not mistaken for the prompt.
    shell.write(`P=Password; read -s -p "$P: " pw; echo done-\${#pw}\r`);
    await shell.waitFor('Password: ', { from: before, timeoutMs: 15_000 });
    shell.write(`${CANARY}\r`);
    await shell.waitFor(PROMPT, {
      from: shell.output().indexOf('Password: ', before),
      timeoutMs: 15_000,
    });
    expect(shell.output().slice(before)).toContain(`done-${CANARY.length}`);
    shell.write('exit\r');
    expect(await shell.waitExit(15_000)).toBe(0);
    expect(relay.delayedChunks()).toBeGreaterThan(0); // the session went through the delay

    const started = world
      .auditAfter()
      .find((e) => e.type === 'ssh.shell' && e.target === 'far-1' && e.data['pty'] === '100x30');
    sid = started?.sid ?? '';
    expect(sid).toMatch(/^ses_/);
    await waitUntil(
      () => world.auditAfter().find((e) => e.type === 'session.end' && e.sid === sid),
      { what: 'session.end', timeoutMs: 20_000 },
    );
  }, 120_000);

  it('the-typed-commands-are-recorded-as-typed-and-audited-as-ssh-command', () => {
    const commands = world
      .auditAfter()
      .filter((e) => e.type === 'ssh.command' && e.sid === sid)
      .map((e) => e.data['command']);
    expect(commands).toEqual([
      'echo far-output-$((6*7))',
      'whoami',
      'P=Password; read -s -p "$P: " pw; echo done-${#pw}',
      'exit',
    ]);
    const { cast, typed } = recorded();
    expect(typed).toContain('echo far-output-$((6*7))\r');
    expect(typed).toContain('whoami\r');
    expect(typed.endsWith('exit\r')).toBe(true);
    expect(cast.events.filter((e) => e[1] === 'm').map((e) => e[2])).toEqual(commands);
  });

  it('the-password-typed-without-echo-is-still-masked-and-found-nowhere', async () => {
    const { typed } = recorded();
    expect(typed).toContain(`${'*'.repeat(CANARY.length)}\r`);
    for (const file of world.recordingFiles())
      expect(readFileSync(file, 'utf8')).not.toContain(CANARY);
    const audit = await world.gatehouse.cli(['audit', 'tail', '-n', '1000', '--json']);
    expect(audit.stdout).not.toContain(CANARY);
    expect(world.gatehouse.logs()).not.toContain(CANARY);
  });
});
