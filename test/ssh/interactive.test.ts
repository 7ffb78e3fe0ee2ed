import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readCast,
  startSshWorld,
  waitUntil,
  type AuditLine,
  type PtySsh,
  type SshWorld,
} from './fixture.js';

/** Typed at a `read -s` prompt: it must never be kept anywhere. */
const CANARY = 'Sup3rSecret-canary-4711';
/** A bash prompt (`gh_leased@host:~$ `) at the very end of the output (readline may add `ESC[K`). */
const PROMPT = /\$ (\x1b\[[0-9;?]*[A-Za-z])*$/;

/** Types `line` + Enter at the prompt and resolves with what was printed up to the next prompt. */
async function runLine(shell: PtySsh, line: string): Promise<string> {
  const from = shell.output().length;
  shell.write(`${line}\r`);
  await shell.waitFor(PROMPT, { from });
  return shell.output().slice(from);
}

describe('interactive ssh through gatehouse (real ssh -tt in a pty)', () => {
  let world: SshWorld;
  beforeAll(async () => {
    world = await startSshWorld();
  }, 60_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
  });

  describe('a shell on web-1', () => {
    let shell: PtySsh;
    let sid: string;

    it('a-shell-prompt-appears-and-typed-commands-run-on-the-target', async () => {
      shell = world.sshPty(['web-1'], { cols: 100, rows: 30 });
      await shell.waitFor(PROMPT, { timeoutMs: 15_000 });
      expect(await runLine(shell, 'echo gh-output-$((6*7))')).toContain('gh-output-42\r\n');
      expect(await runLine(shell, 'whoami')).toContain(`${world.sshd.account}\r\n`);
      const started = world
        .auditAfter()
        .find((e) => e.type === 'ssh.shell' && e.user === 'alice' && e.data['pty'] === '100x30');
      expect(started?.target).toBe('web-1');
      sid = started?.sid ?? '';
      expect(sid).toMatch(/^ses_/);
    });

    it('the-pty-size-and-later-window-changes-reach-the-target', async () => {
      expect(await runLine(shell, 'stty size')).toContain('30 100\r\n');
      shell.resize(120, 40);
      // ssh sends window-change when SIGWINCH reaches it: give it a moment, then look again.
      const seen = await waitUntil(
        async () => {
          const out = await runLine(shell, 'stty size');
          return out.includes('40 120\r\n') ? out : undefined;
        },
        { what: 'the new size on the target' },
      );
      expect(seen).toContain('40 120');
    });

    it('ctrl-c-interrupts-a-running-command-and-the-shell-goes-on', async () => {
      const from = shell.output().length;
      shell.write('sleep 30\r');
      await shell.waitFor('sleep 30\r\n', { from });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const interruptedAt = Date.now();
      shell.write('\x03');
      await shell.waitFor(PROMPT, { from, timeoutMs: 5_000 });
      expect(Date.now() - interruptedAt).toBeLessThan(5_000);
      // 130 = 128 + SIGINT: the sleep was interrupted, the shell was not.
      expect(await runLine(shell, 'echo still-here $?')).toContain('still-here 130');
    });

    it('a-password-typed-at-a-no-echo-prompt-is-read-by-the-target', async () => {
      const from = shell.output().length;
      // The prompt text is built by the shell, so its echo is not mistaken for the prompt.
      shell.write(`P=Password; read -s -p "$P: " pw; echo done-\${#pw}\r`);
      await shell.waitFor('Password: ', { from });
      shell.write(`${CANARY}\r`);
      await shell.waitFor(PROMPT, { from: shell.output().indexOf('Password: ', from) });
      // The target got it (its length comes back), the terminal never showed it.
      expect(shell.output().slice(from)).toContain(`done-${CANARY.length}`);
      expect(shell.output()).not.toContain(CANARY);
    });

    it('exit-n-in-the-shell-ends-ssh-with-status-n', async () => {
      shell.write('exit 3\r');
      expect(await shell.waitExit(10_000)).toBe(3);
    });

    it('the-recording-is-asciicast-v3-with-output-resize-markers-and-exit', async () => {
      const end = await waitUntil(
        () => world.auditAfter().find((e) => e.type === 'session.end' && e.sid === sid),
        { what: 'session.end' },
      );
      const path = world.recordingFiles().find((p) => p.endsWith(`/${sid}-1.cast`));
      expect(path).toBeDefined();
      const file = path ?? '';
      // Layout: <dir>/recordings/YYYY/MM/DD/<sid>-<channel>.cast, and session.end names it with its hash.
      const relPath = relative(`${world.gatehouse.dir}/recordings`, file);
      expect(relPath).toMatch(new RegExp(`^\\d{4}/\\d{2}/\\d{2}/${sid}-1\\.cast$`));
      expect(JSON.parse(String(end.data['recording']))).toEqual([relPath]);
      expect(JSON.parse(String(end.data['recordingSha256']))).toEqual([
        createHash('sha256').update(readFileSync(file)).digest('hex'),
      ]);

      const cast = readCast(file);
      expect(cast.header).toMatchObject({
        version: 3,
        term: { cols: 100, rows: 30 },
        gatehouse: { sid, user: 'alice', target: 'web-1' },
      });
      expect(typeof cast.header['timestamp']).toBe('number');
      for (const [interval, code, data] of cast.events) {
        expect(interval).toBeGreaterThanOrEqual(0);
        expect(['o', 'i', 'm', 'r', 'x']).toContain(code);
        expect(typeof data).toBe('string');
      }
      const of = (code: string): string[] =>
        cast.events.filter((e) => e[1] === code).map((e) => e[2]);
      expect(of('o').join('')).toContain('gh-output-42');
      expect(of('o').join('')).toContain('40 120');
      expect(of('r')).toContain('120x40');
      expect(of('m')).toEqual(
        expect.arrayContaining(['echo gh-output-$((6*7))', 'whoami', 'stty size', 'sleep 30']),
      );
      expect(of('x')).toEqual(['3']);
      expect(cast.events.at(-1)?.[1]).toBe('x');
    });

    it('the-typed-secret-is-masked-and-found-nowhere-while-commands-are-audited', async () => {
      const cast = readCast(world.recordingFiles().find((p) => p.endsWith(`/${sid}-1.cast`)) ?? '');
      // Kept as one * per character, never as text; the line holding it is no command.
      expect(
        cast.events.some((e) => e[1] === 'i' && e[2].includes('*'.repeat(CANARY.length))),
      ).toBe(true);
      expect(cast.events.filter((e) => e[1] === 'm').some((e) => e[2].includes('canary'))).toBe(
        false,
      );
      for (const file of world.recordingFiles())
        expect(readFileSync(file, 'utf8')).not.toContain(CANARY);
      const audit = await world.gatehouse.cli(['audit', 'tail', '-n', '1000', '--json']);
      expect(audit.stdout).not.toContain(CANARY);
      expect(world.gatehouse.logs()).not.toContain(CANARY);
      const commands = audit.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as AuditLine)
        .filter((e) => e.type === 'ssh.command' && e.sid === sid)
        .map((e) => e.data['command']);
      expect(commands).toEqual(
        expect.arrayContaining([
          'echo gh-output-$((6*7))',
          'whoami',
          'stty size',
          'sleep 30',
          'exit 3',
        ]),
      );
    });
  });

  describe('the target menu (no target named)', () => {
    it('without-a-pty-the-menu-is-a-plain-list-and-ssh-exits-0', async () => {
      const run = await world.ssh(undefined, { sshOptions: { RequestTTY: 'no' } });
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      const names = run.stdout
        .trim()
        .split('\n')
        .map((line) => line.split('\t')[0]);
      expect(names).toEqual(['web-1']);
    });

    it('with-a-pty-typing-a-target-name-opens-a-shell-there', async () => {
      const menu = world.sshPty([]);
      await menu.waitFor('target> ', { timeoutMs: 15_000 });
      expect(menu.output()).toContain('web-1');
      menu.write('web-1\r');
      await menu.waitFor(PROMPT, { timeoutMs: 15_000 });
      expect(await runLine(menu, 'whoami')).toContain(`${world.sshd.account}\r\n`);
      menu.write('exit\r');
      expect(await menu.waitExit()).toBe(0);
    });

    it('with-a-pty-an-unknown-choice-ends-with-no-such-target', async () => {
      const menu = world.sshPty([]);
      await menu.waitFor('target> ', { timeoutMs: 15_000 });
      menu.write('db-9\r');
      expect(await menu.waitExit()).toBe(1);
      expect(menu.output()).toContain('no such target');
    });
  });
});
