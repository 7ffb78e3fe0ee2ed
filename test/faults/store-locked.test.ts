import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  machinePostgresTarget,
  startFaultWorld,
  type AuditEvent,
  type FaultWorld,
  type PtyShell,
} from './world.js';

// Another process holds the SQLite store locked (an operator's `sqlite3` in a write transaction,
// a backup tool) for longer than Gatehouse waits for it (busy_timeout, 10 s). Logins are told
// sign-in is temporarily unavailable (not "permission denied"); a live session goes on and the
// command typed meanwhile reaches the chain once the lock is gone; service resumes after.
describe('faults: SQLite store locked by another process (SQLITE_BUSY)', () => {
  let world: FaultWorld;
  let bobShell: PtyShell;
  let storePath: string;

  beforeAll(async () => {
    world = await startFaultWorld();
    storePath = join(world.gatehouse.dir, 'gatehouse.db');
    if (!existsSync(storePath)) throw new Error(`no SQLite store at ${storePath}`);
    await world.addDbTarget('orders', machinePostgresTarget());
    bobShell = await world.shell('web-1', { key: world.bob });
  }, 180_000);

  afterAll(async () => {
    bobShell?.kill();
    await world?.[Symbol.asyncDispose]();
  });

  it('logins-while-the-store-is-locked-hear-temporarily-unavailable-and-nothing-is-lost', async () => {
    const bobSid = (await world.sessions()).find(
      (s) => s.target === 'web-1' && s.status === 'active',
    )?.sid;
    const lock = await holdWriteLock(storePath);
    try {
      // Bob's shell does not wait for the audit trail; his command's event waits for the store.
      await bobShell.run('echo while-locked-$((6*7))', 'while-locked-42');
      const [ssh, psql] = await Promise.all([
        // LogLevel INFO: OpenSSH prints authentication banners only from that level up.
        world.ssh('web-1 echo should-not-run', { sshOptions: { LogLevel: 'INFO' } }),
        world.psql('orders', ['-c', 'select 1']),
      ]);
      expect(ssh.code).toBe(255);
      expect(ssh.stdout).not.toContain('should-not-run');
      expect(ssh.stderr).toContain(
        'gatehouse: sign-in is temporarily unavailable; try again shortly',
      );
      // (OpenSSH still ends with its own "Permission denied": the banner comes first.)
      expect(ssh.stderr).not.toMatch(/at .*\.js:\d+/);
      expect(psql.code).not.toBe(0);
      expect(psql.stderr).toContain('sign-in is temporarily unavailable');
      expect(psql.stderr).toContain('try again shortly');
      expect(psql.stderr).not.toMatch(/password authentication failed|permission denied/);
      expect(() => process.kill(world.gatehouse.pid, 0)).not.toThrow();
    } finally {
      await lock.release();
    }

    // Nothing lost: the command typed while the store was locked is in the chain.
    await eventually(
      async () => {
        const events = await world.audit();
        return commandsOf(events, bobSid ?? '').some((c) => c.includes('while-locked'))
          ? events
          : undefined;
      },
      { timeoutMs: 60_000, what: "bob's command in the chain" },
    );
  }, 180_000);

  it('once-the-lock-is-gone-logins-work-and-the-chain-verifies', async () => {
    const run = await world.ssh('web-1 echo lock-gone');
    expect(run.stdout.trim()).toBe('lock-gone');
    const psql = await world.psql('orders', ['-At', '-c', "select 'orders-ok'"]);
    expect(psql.stdout.trim()).toBe('orders-ok');
    await bobShell.run('echo bob-survived-$((6*7))', 'bob-survived-42');
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);
});

/** A `sqlite3` process in a write transaction on `path` (WAL: readers go on, writers wait). */
async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const child: ChildProcessWithoutNullStreams = spawn('sqlite3', [path], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Waits for Gatehouse's own commits to finish, then takes the write lock and keeps it.
  child.stdin.write(".timeout 10000\nBEGIN IMMEDIATE;\nSELECT 'lock-' || 'held';\n");
  await eventually(() => (output.includes('lock-held') ? true : undefined), {
    what: 'the sqlite3 lock',
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`sqlite3 did not take the lock: ${output}`, { cause: err });
  });
  return {
    release: async () => {
      child.stdin.end('COMMIT;\n.quit\n');
      await exited;
    },
  };
}

/** The commands of a session's `ssh.command` events, in chain order. */
function commandsOf(events: readonly AuditEvent[], sid: string): string[] {
  return events
    .filter((e) => e.sid === sid && e.type === 'ssh.command')
    .map((e) => String(e.data['command']));
}
