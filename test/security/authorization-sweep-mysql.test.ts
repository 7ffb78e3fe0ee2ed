import { createConnection as netConnect, createServer, type Server, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tailAudit } from '../../src/audit/index.js';
import { openControlPlane, type ControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import {
  ALICE_PASSWORD,
  LEASED_PASSWORD,
  startMysqlWorld,
  type MysqlWorld,
} from '../mysql/fixture.js';

// Authorization sweep, MySQL: for each row (no grant, expired, revoked, disabled, locked out)
// and each client (the mariadb CLI, mysql2), the user gets no session, the target never sees a
// connection (a counting relay stands in front of MariaDB), no credential is unlocked, and the
// refusal is audited with its reason; the same user with a valid grant gets in (positive
// control). A grant revoked or expiring during a live session ends it.
let world: MysqlWorld;
let cp: ControlPlane;
let relay: Server;
let upstreamConnections = 0;
const relaySockets = new Set<Socket>();
const by = { actor: 'sweep' };
const TARGET = 'sweep-db';

interface Attempt {
  readonly isGranted: boolean;
  readonly detail: string;
}

const CLIENTS: Record<string, (user: string, password?: string) => Promise<Attempt>> = {
  'mariadb cli': async (user, password) => {
    const run = await world.cli(['--ssl', `--ssl-ca=${world.caPath}`, '-N', '-e', 'SELECT 4242'], {
      login: `${user}#${TARGET}`,
      password: password ?? ALICE_PASSWORD,
      timeoutMs: 60_000,
    });
    return {
      isGranted: run.stdout.trim() === '4242',
      detail: `${run.code} ${run.stdout} ${run.stderr}`,
    };
  },
  mysql2: async (user, password) => {
    let conn: mysql.Connection | undefined;
    try {
      conn = await world.connect({
        login: `${user}#${TARGET}`,
        password: password ?? ALICE_PASSWORD,
        connectTimeout: 60_000,
      });
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT 4243 AS n');
      return { isGranted: Number(rows[0]?.['n']) === 4243, detail: 'connected' };
    } catch (err) {
      const e = err as { errno?: number; message: string };
      return { isGranted: false, detail: `${e.errno ?? ''} ${e.message}` };
    } finally {
      await conn?.end().catch(() => undefined);
    }
  },
};

async function events(limit = 5000): ReturnType<typeof tailAudit> {
  return tailAudit(cp.store.db, { limit });
}

async function lastSeq(): Promise<number> {
  return (await events(1)).at(-1)?.seq ?? 0;
}

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectRefused(
  user: string,
  expected: { type: string; reason: string },
): Promise<void> {
  for (const [name, attempt] of Object.entries(CLIENTS)) {
    const seq = await lastSeq();
    const before = upstreamConnections;
    const result = await attempt(user);
    expect({ client: name, isGranted: result.isGranted }, result.detail).toEqual({
      client: name,
      isGranted: false,
    });
    const after = await eventually(async () => {
      const found = (await events()).filter((e) => e.seq > seq);
      return found.some((e) => e.type === expected.type && e.user === user) ? found : undefined;
    });
    expect(
      after.find((e) => e.type === expected.type && e.user === user)?.data,
      name,
    ).toMatchObject({ reason: expected.reason });
    expect(
      after
        .filter((e) => e.user === user && ['credential.unlock', 'session.start'].includes(e.type))
        .map((e) => e.type),
      name,
    ).toEqual([]);
    expect({ client: name, upstreamConnections: upstreamConnections - before }).toEqual({
      client: name,
      upstreamConnections: 0,
    });
  }
}

async function expectGranted(user: string): Promise<void> {
  const seq = await lastSeq();
  const before = upstreamConnections;
  for (const [name, attempt] of Object.entries(CLIENTS)) {
    const result = await attempt(user);
    expect({ client: name, isGranted: result.isGranted }, result.detail).toEqual({
      client: name,
      isGranted: true,
    });
  }
  const unlocks = await eventually(async () => {
    const found = (await events()).filter(
      (e) => e.seq > seq && e.type === 'credential.unlock' && e.user === user,
    );
    return found.length >= 2 ? found : undefined;
  });
  expect(unlocks.map((e) => e.target)).toEqual([TARGET, TARGET]);
  expect(upstreamConnections - before).toBeGreaterThanOrEqual(2);
}

const grantIds: Record<string, string> = {};
async function grant(user: string, durationMs: number): Promise<string> {
  const created = await cp.grants.create(
    { subject: { kind: 'user', name: user }, scope: { kind: 'target', name: TARGET }, durationMs },
    by,
  );
  grantIds[user] = created.id;
  return created.id;
}

beforeAll(async () => {
  world = await startMysqlWorld();
  // A relay in front of MariaDB that counts the connections Gatehouse makes to the target.
  relay = createServer((client) => {
    upstreamConnections += 1;
    const upstream = netConnect({ host: world.account.host, port: world.account.port });
    relaySockets.add(client);
    client.on('close', () => relaySockets.delete(client));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const address = relay.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  cp = await openControlPlane(loadConfig(world.gatehouse.configPath), {
    logger: createLogger({ level: 'silent' }),
  });
  await cp.targets.add(
    {
      name: TARGET,
      kind: 'mysql',
      host: '127.0.0.1',
      port,
      username: world.account.user,
      database: world.database,
    },
    by,
  );
  await cp.credentials.set(
    TARGET,
    { kind: 'password', password: Buffer.from(LEASED_PASSWORD) },
    by,
  );
  for (const user of ['nina', 'eddie', 'rita', 'dora', 'luke', 'xena', 'yuri'])
    await cp.users.add(user, { ...by, password: ALICE_PASSWORD });
  for (const user of ['rita', 'dora', 'luke']) await grant(user, 3_600_000);
}, 300_000);

afterAll(async () => {
  for (const socket of relaySockets) socket.destroy();
  relay?.close();
  await cp?.close();
  await world?.[Symbol.asyncDispose]();
});

describe('mysql authorization sweep', () => {
  it('no-grant-is-refused-before-any-unlock-then-a-grant-lets-the-same-user-in', async () => {
    await expectRefused('nina', { type: 'access.denied', reason: 'no-grant' });
    await grant('nina', 3_600_000);
    await expectGranted('nina');
  }, 240_000);

  it('an-expired-grant-is-refused-as-grant-expired-then-a-new-grant-lets-the-same-user-in', async () => {
    await grant('eddie', 1_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await expectRefused('eddie', { type: 'access.denied', reason: 'grant-expired' });
    await grant('eddie', 3_600_000);
    await expectGranted('eddie');
  }, 240_000);

  it('a-revoked-grant-is-refused-as-grant-revoked', async () => {
    await expectGranted('rita');
    await cp.grants.revoke(grantIds['rita'] ?? '', by);
    await expectRefused('rita', { type: 'access.denied', reason: 'grant-revoked' });
  }, 240_000);

  it('a-disabled-user-is-refused-at-login-as-disabled-then-enabled-gets-in', async () => {
    await cp.users.disable('dora', by);
    await expectRefused('dora', { type: 'auth.failure', reason: 'disabled' });
    await cp.users.enable('dora', by);
    await expectGranted('dora');
  }, 240_000);

  it('a-locked-out-user-is-refused-at-login-as-locked-even-with-the-right-password', async () => {
    await expectGranted('luke');
    for (let i = 0; i < 5; i += 1)
      expect((await CLIENTS['mysql2']?.('luke', `wrong-${i}`))?.isGranted).toBe(false);
    await eventually(async () =>
      (await events(50)).find((e) => e.type === 'auth.lockout' && e.user === 'luke'),
    );
    await expectRefused('luke', { type: 'auth.failure', reason: 'locked' });
  }, 240_000);
});

describe('mysql access that ends during a live session', () => {
  async function leasedConnections(): Promise<number> {
    const rows = await world.root<{ n: number }[]>(
      'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
      [world.account.user],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async function liveSessionEndedBy(
    user: string,
    end: () => Promise<void>,
  ): Promise<{ next: string; sid: string }> {
    const seq = await lastSeq();
    const conn = await world.connect({ login: `${user}#${TARGET}`, connectTimeout: 60_000 });
    const ended = new Promise<void>((resolve) => {
      conn.on('error', () => resolve());
      conn.on('end', () => resolve());
    });
    await conn.query('SELECT 1');
    const start = await eventually(async () =>
      (await events()).find((e) => e.seq > seq && e.type === 'session.start' && e.user === user),
    );
    expect(await leasedConnections()).toBeGreaterThanOrEqual(1);
    await end();
    await ended;
    // The client was told and the connection is gone: the next statement cannot run.
    const next = await conn.query('SELECT 1').then(
      () => 'ran',
      (err: { message: string }) => err.message,
    );
    conn.destroy();
    return { next, sid: start.sid ?? '' };
  }

  async function expectEnded(sid: string): Promise<void> {
    const endEvent = await eventually(
      async () => (await events(500)).find((e) => e.type === 'session.end' && e.sid === sid),
      30_000,
    );
    expect(endEvent.data).toMatchObject({ status: 'terminated', reason: 'access-ended' });
    await eventually(async () => ((await leasedConnections()) === 0 ? true : undefined), 30_000);
  }

  it('revoking-the-grant-ends-a-live-session', async () => {
    const id = await grant('xena', 3_600_000);
    const { next, sid } = await liveSessionEndedBy('xena', async () => {
      await cp.grants.revoke(id, by);
    });
    expect(next).not.toBe('ran');
    await expectEnded(sid);
  }, 120_000);

  it('a-grant-that-expires-during-a-live-session-ends-it', async () => {
    const created = await cp.grants.create(
      {
        subject: { kind: 'user', name: 'yuri' },
        scope: { kind: 'target', name: TARGET },
        durationMs: 20_000,
      },
      by,
    );
    const { next, sid } = await liveSessionEndedBy('yuri', () => Promise.resolve());
    expect(Date.now()).toBeGreaterThanOrEqual(created.expiresAt ?? Infinity);
    expect(next).not.toBe('ran');
    await expectEnded(sid);
  }, 120_000);
});
