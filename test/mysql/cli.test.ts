import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDbTarget } from '../support/db-target.js';
import { createMariadbDatabaseAccount } from '../support/mariadb-account.js';
import { startMysqlWorld, type MysqlWorld } from './fixture.js';

let world: MysqlWorld;
beforeAll(async () => {
  world = await startMysqlWorld();
}, 120_000);
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

/** Error number of a failed mysql2 call. */
async function errnoOf(
  work: Promise<unknown>,
): Promise<{ errno: number | undefined; message: string }> {
  try {
    await work;
  } catch (err) {
    const e = err as { errno?: number; message: string };
    return { errno: e.errno, message: e.message };
  }
  throw new Error('expected an error');
}

describe('mariadb command-line client', () => {
  it('logs-in-over-tls-verified-with-the-init-ca-as-the-leased-account', async () => {
    const r = await world.cli(['-N', '-B', '-e', 'SELECT CURRENT_USER(); SELECT DATABASE()']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([`${world.account.user}@%`, world.database, '']);
  });

  it('empty-first-column-multi-statement-comes-back-whole', async () => {
    const r = await world.cli([
      '-N',
      '-B',
      '-e',
      "select '', 'marker1'; show schemas; select 'marker2';",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('\tmarker1');
    expect(lines).toContain(world.database);
    expect(lines[lines.length - 2]).toBe('marker2');
  });

  it('use-sends-com-init-db-and-the-session-follows-it', async () => {
    const r = await world.cli(['-N', '-B', '-e', 'use information_schema; select database()']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('information_schema');
    const events = await world.auditEvents(200);
    expect(
      events.some(
        (e) =>
          e.type === 'db.query' &&
          e.data['sql'] === 'USE `information_schema`' &&
          e.user === 'alice',
      ),
    ).toBe(true);
  });

  it('without-tls-the-login-is-refused-with-a-clear-error', async () => {
    const r = await world.cli(['--skip-ssl', '-e', 'select 1'], { isPlaintext: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR 3159 .*without TLS are refused/);
  });

  it('mysql-clear-password-over-tls-logs-in', async () => {
    const r = await world.cli([
      '--default-auth=mysql_clear_password',
      '-N',
      '-B',
      '-e',
      'select 42',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('42');
  });

  it('wrong-password-is-1045', async () => {
    const r = await world.cli(['-e', 'select 1'], {
      password: 'not-the-password',
    });
    expect(r.stderr).toMatch(/ERROR 1045 \(28000\): permission denied for user 'alice#shop-db'/);
  });

  it('no-password-is-refused-at-once', async () => {
    const started = Date.now();
    const r = await world.cli(['-e', 'select 1'], {
      password: '',
    });
    expect(r.stderr).toMatch(/ERROR 1045 \(28000\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a-login-without-a-target-says-how-to-name-one', async () => {
    const r = await world.cli(['-e', 'select 1'], {
      login: 'alice',
    });
    expect(r.stderr).toMatch(
      /ERROR 1045 \(28000\): the user name must name a target \(connect as user#target/,
    );
  });

  it('load-data-local-is-refused', async () => {
    await world.root(`CREATE TABLE \`${world.database}\`.infile_t (a TEXT)`);
    const r = await world.cli([
      '--local-infile=1',
      '-e',
      "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE infile_t",
    ]);
    expect(r.stderr).toMatch(
      /ERROR 1148 \(42000\).*LOAD DATA LOCAL INFILE is not allowed through Gatehouse/,
    );
    const rows = await world.root<{ n: number }[]>(
      `SELECT COUNT(*) AS n FROM \`${world.database}\`.infile_t`,
    );
    expect(rows[0]?.n).toBe(0);
  });
});

describe('errors', () => {
  it('unknown-target-and-no-grant-are-1044-and-look-alike', async () => {
    const unknown = await errnoOf(world.connect({ login: 'alice#no-such-db' }));
    const hidden = await errnoOf(world.connect({ login: 'alice#hidden-db' }));
    expect(unknown.errno).toBe(1044);
    expect(hidden.errno).toBe(1044);
    expect(unknown.message).toMatch(/access denied to target 'no-such-db'/);
    expect(hidden.message).toMatch(
      /access denied to target 'hidden-db' \(ask an administrator for a grant on this target\)/,
    );
  });

  it('target-down-is-a-clear-connection-error', async () => {
    const down = await errnoOf(world.connect({ login: 'alice#down-db' }));
    expect(down.errno).toBe(1105);
    expect(down.message).toMatch(/target "down-db" cannot be reached/);
    const cli = await world.cli(['-e', 'select 1'], {
      login: 'alice#down-db',
    });
    expect(cli.stderr).toMatch(
      /ERROR 1105 \(08S01\): target "down-db" cannot be reached \(the target may be down/,
    );
  });

  it('a-wrong-password-from-a-driver-is-1045', async () => {
    const wrong = await errnoOf(world.connect({ password: 'nope' }));
    expect(wrong.errno).toBe(1045);
  });
});

describe('read-only target', () => {
  it('reads-pass-and-writes-are-refused-with-1142', async () => {
    await world.root(`CREATE TABLE \`${world.database}\`.ro_t (a INT)`);
    await world.root(`INSERT INTO \`${world.database}\`.ro_t VALUES (1), (2)`);
    const conn = await world.connect({ login: 'alice#shop-ro', multipleStatements: true });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM ro_t');
      expect(rows[0]?.['n']).toBe(2);
      const [mode] = await conn.query<mysql.RowDataPacket[]>('SELECT @@session.tx_read_only AS ro');
      expect(Number(mode[0]?.['ro'])).toBe(1);
      for (const sql of [
        'DELETE FROM ro_t',
        'SELECT 1; DROP TABLE ro_t',
        'SET SESSION TRANSACTION READ WRITE',
        'CREATE TABLE x (a INT)',
      ]) {
        const refused = await errnoOf(conn.query(sql));
        expect(refused.errno, sql).toBe(1142);
        expect(refused.message).toMatch(
          /command denied: target 'shop-ro' is read-only through Gatehouse/,
        );
      }
      const prepared = await errnoOf(conn.prepare('UPDATE ro_t SET a = ?'));
      expect(prepared.errno).toBe(1142);
      // The session is still usable, and nothing was written.
      const [after] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM ro_t');
      expect(after[0]?.['n']).toBe(2);
    } finally {
      await conn.end();
    }
    const denied = (await world.auditEvents()).filter(
      (e) => e.type === 'db.denied' && e.target === 'shop-ro',
    );
    expect(denied.length).toBeGreaterThanOrEqual(5);
    expect(denied.every((e) => e.user === 'alice' && e.data['reason'] === 'read-only')).toBe(true);
  });
});

describe('session control', () => {
  it('an-admin-kill-ends-the-connection-and-is-recorded', async () => {
    const conn = await world.connect();
    const [mine] = await conn.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    const list = await world.gatehouse.cli(['sessions', 'list', '--json']);
    const active = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sid: string; status: string; target: string })
      .filter((s) => s.status === 'active' && s.target === 'shop-db');
    expect(active.length).toBeGreaterThan(0);
    for (const s of active) await world.gatehouse.cli(['sessions', 'kill', s.sid]);
    // The connection closes within a second or so (kills are polled every 500 ms).
    const killedAt = Date.now();
    let isClosed = false;
    while (!isClosed && Date.now() - killedAt < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      isClosed = await conn.query('SELECT 1').then(
        () => false,
        () => true,
      );
    }
    conn.destroy();
    expect(isClosed).toBe(true);
    // The target's thread goes away too.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rows = await world.root<unknown[]>(
      'SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?',
      [mine[0]?.['id']],
    );
    expect(rows).toHaveLength(0);
    const events = await world.auditEvents();
    expect(
      events.some(
        (e) =>
          e.type === 'session.end' && e.sid === active[0]?.sid && e.data['status'] === 'terminated',
      ),
    ).toBe(true);
  });
});

describe('attribution and audit', () => {
  it('processlist-shows-the-leased-account-from-the-gateway-address', async () => {
    const conn = await world.connect();
    try {
      const [mine] = await conn.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
      const rows = await world.root<{ User: string; Host: string }[]>(
        'SELECT User, Host FROM information_schema.PROCESSLIST WHERE ID = ?',
        [mine[0]?.['id']],
      );
      expect(rows[0]?.User).toBe(world.account.user);
      expect(rows[0]?.Host).toMatch(/^(127\.0\.0\.1|localhost):\d+$/);
    } finally {
      await conn.end();
    }
  });

  it('password-literals-never-reach-audit-transcript-or-logs-and-events-name-alice', async () => {
    const canary = `canary-${Date.now()}`;
    const conn = await world.connect();
    await conn.query(`ALTER USER 'gh_nobody'@'%' IDENTIFIED BY '${canary}'`).catch(() => undefined);
    await conn.execute(`SELECT ? AS v`, ['plain-param']);
    await conn
      .execute(`SET PASSWORD FOR 'gh_nobody'@'%' = PASSWORD(?)`, [canary])
      .catch(() => undefined);
    await conn.end();
    // The session end is recorded once the client leaves.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const events = await world.auditEvents();
    const queries = events.filter((e) => e.type === 'db.query');
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.every((e) => e.user === 'alice' && e.sid !== null && e.target !== null)).toBe(
      true,
    );
    const alter = queries.find((e) => String(e.data['sql']).startsWith('ALTER USER'));
    expect(alter?.data['sql']).toBe("ALTER USER 'gh_nobody'@'%' IDENTIFIED BY '[redacted]'");
    expect(
      queries.find((e) => e.data['mode'] === 'extended' && e.data['sql'] === 'SELECT ? AS v')?.data[
        'params'
      ],
    ).toEqual(['plain-param']);
    expect(JSON.stringify(events)).not.toContain(canary);
    const transcripts = world.transcriptFiles().map((file) => readFileSync(file, 'utf8'));
    for (const text of transcripts) expect(text).not.toContain(canary);
    expect(
      transcripts.some((text) => text.includes('"type":"query"') && text.includes('[redacted]')),
    ).toBe(true);
    expect(world.gatehouse.logs()).not.toContain(canary);
    expect(world.gatehouse.logs()).not.toContain('alice-Gatehouse-pw-1');
    const starts = events.filter((e) => e.type === 'session.start' && e.data['via'] === 'mysql');
    expect(starts.length).toBeGreaterThan(0);
    const ends = events.filter(
      (e) => e.type === 'session.end' && starts.some((s) => s.sid === e.sid),
    );
    expect(ends.length).toBeGreaterThan(0);
  });
});

describe('credential rotation from the CLI', () => {
  it('credential-rotate-sets-a-new-upstream-password-that-the-next-session-logs-in-with', async () => {
    // An account of its own: rotating shop-db's would leave shop-ro (same account) stale.
    await using account = await createMariadbDatabaseAccount({
      password: `rot-${randomBytes(6).toString('hex')}`,
      prefix: 'gh_rotcli_',
    });
    const { gatehouse } = world;
    await addDbTarget(gatehouse, {
      name: 'rot-db',
      kind: 'mysql',
      host: account.host,
      port: account.port,
      username: account.user,
      password: account.password,
      database: account.database,
    });

    const rotated = await gatehouse.cli(['credential', 'rotate', 'rot-db']);
    expect(rotated.stdout).toMatch(/^rotated rot-db: version 1 -> 2$/m);
    expect(rotated.stdout + rotated.stderr).not.toContain(account.password);

    // The old password no longer opens the account; a session through Gatehouse does.
    await expect(
      mysql.createConnection({
        host: account.host,
        port: account.port,
        user: account.user,
        password: account.password,
      }),
    ).rejects.toThrow(/Access denied/);
    const r = await world.cli(['-N', '-B', '-e', 'SELECT CURRENT_USER()'], {
      login: 'alice#rot-db',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${account.user}@%\n`);
  });
});
