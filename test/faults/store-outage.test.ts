import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDbFaultWorld, type DbFaultWorld } from './db-world.js';
import { eventually, waitClosedRecord, type AuditEvent, type PtyShell } from './world.js';

// The PostgreSQL store goes away for a few seconds. Nothing may happen unaudited: live SSH,
// PostgreSQL and MySQL sessions go on, and the events they produce meanwhile (commands,
// statements) are written once the store is back, none lost (the audit log tries again for a
// bounded time); new logins are refused while it is down, with a message that says it will
// pass; Gatehouse does not crash; once it is back, new sessions work and the chain verifies.
describe('faults: store briefly unavailable (PostgreSQL store)', () => {
  let world: DbFaultWorld;
  let bobShell: PtyShell;

  beforeAll(async () => {
    world = await startDbFaultWorld({ cluster: 'store', prefix: 'gh_out_' });
    bobShell = await world.shell('web-1', { key: world.bob });
  }, 180_000);

  afterAll(async () => {
    bobShell?.kill();
    await world?.[Symbol.asyncDispose]();
  });

  it('live-ssh-postgres-and-mysql-sessions-go-on-through-the-outage-and-lose-no-event', async () => {
    const orders: pg.Client = world.pgClient('orders');
    const lost: string[] = [];
    orders.on('error', (err) => lost.push(err.message));
    await orders.connect();
    await orders.query("select 'pg-before-outage' as marker");
    const shop = await world.mysqlConnect('shop');
    await shop.query("select 'my-before-outage' as marker");
    const sessions = await world.sessions();
    const sidOf = (target: string): string => {
      const row = sessions.find((s) => s.target === target && s.status === 'active');
      if (row === undefined) throw new Error(`no active session on ${target}`);
      return row.sid;
    };
    const [pgSid, mySid, bobSid] = [sidOf('orders'), sidOf('shop'), sidOf('web-1')];

    await world.cluster.pause({ mode: 'fast' });
    try {
      // The relays do not wait for the audit trail: the work goes on while the store is down.
      await bobShell.run('echo during-outage-$((6*7))', 'during-outage-42');
      const pgDuring = await orders.query<{ marker: string }>(
        "select 'pg-during-outage' as marker",
      );
      expect(pgDuring.rows).toEqual([{ marker: 'pg-during-outage' }]);
      const [myDuring] = await shop.query<mysql.RowDataPacket[]>(
        "select 'my-during-outage' as marker",
      );
      expect(myDuring).toEqual([{ marker: 'my-during-outage' }]);
      // The store stays down longer than a statement waits for it (10 s, STORE_WAIT_MS): the
      // events' first writes fail, and the audit log's retries carry them over.
      await new Promise((resolve) => setTimeout(resolve, 12_000));
    } finally {
      await world.cluster.resume();
    }

    // The same sessions go on after the outage.
    expect((await orders.query("select 'pg-after-outage' as marker")).rowCount).toBe(1);
    await shop.query("select 'my-after-outage' as marker");
    await bobShell.run('echo after-outage-$((6*7))', 'after-outage-42');
    await orders.end();
    await shop.end();
    expect(lost).toEqual([]);

    // Every event is in the chain, in each session's order, and the sessions ended normally.
    const pgEnd = await waitClosedRecord(world, pgSid, 'ended');
    const myEnd = await waitClosedRecord(world, mySid, 'ended');
    expect(pgEnd.data['reason']).not.toBe('audit-failed');
    expect(myEnd.data['reason']).not.toBe('audit-failed');
    const events = await eventually(
      async () => {
        const all = await world.audit();
        return commandsOf(all, bobSid).some((c) => c.includes('after-outage')) ? all : undefined;
      },
      { timeoutMs: 60_000, what: "bob's commands in the chain" },
    );
    expect(sqlOf(events, pgSid).filter((s) => /pg-\w+-outage/.test(s))).toEqual([
      "select 'pg-before-outage' as marker",
      "select 'pg-during-outage' as marker",
      "select 'pg-after-outage' as marker",
    ]);
    expect(sqlOf(events, mySid).filter((s) => /my-\w+-outage/.test(s))).toEqual([
      "select 'my-before-outage' as marker",
      "select 'my-during-outage' as marker",
      "select 'my-after-outage' as marker",
    ]);
    const bobCommands = commandsOf(events, bobSid).filter((c) => c.includes('-outage'));
    expect(bobCommands).toEqual(['echo during-outage-$((6*7))', 'echo after-outage-$((6*7))']);
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);

  it('while-the-store-is-down-new-logins-are-refused-and-gatehouse-keeps-running', async () => {
    await world.cluster.pause({ mode: 'fast' });
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
      // A database login is told the same, as PostgreSQL says "cannot connect now".
      const client = world.pgClient('orders');
      const err = (await client.connect().then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string; hint?: string } | undefined;
      await client.end().catch(() => undefined);
      expect(err?.code).toBe('57P03');
      expect(err?.message).toBe('sign-in is temporarily unavailable');
      expect(err?.hint).toContain('try again shortly');
      expect(() => process.kill(world.gatehouse.pid, 0)).not.toThrow();
    } finally {
      await world.cluster.resume();
    }
  }, 180_000);

  it('once-the-store-is-back-new-sessions-work-and-the-chain-verifies', async () => {
    const run = await world.ssh('web-1 echo store-back');
    expect(run.stdout.trim()).toBe('store-back');
    await bobShell.run('echo bob-survived-$((6*7))', 'bob-survived-42');
    const again = await world.mariadb('shop', ['-N', '-e', "select 'shop-back'"]);
    expect(again.stdout.trim()).toBe('shop-back');
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);
});

/** The SQL of a session's `db.query` events, in chain order. */
function sqlOf(events: readonly AuditEvent[], sid: string): string[] {
  return events
    .filter((e) => e.sid === sid && e.type === 'db.query')
    .map((e) => String(e.data['sql']));
}

/** The commands of a session's `ssh.command` events, in chain order. */
function commandsOf(events: readonly AuditEvent[], sid: string): string[] {
  return events
    .filter((e) => e.sid === sid && e.type === 'ssh.command')
    .map((e) => String(e.data['command']));
}
