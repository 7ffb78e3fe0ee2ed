import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE_PASSWORD,
  eventually,
  LEASED_ROLE,
  startPgWorld,
  type AuditLine,
  type PgWorld,
} from '../postgres/fixture.js';

// Authorization sweep, PostgreSQL: for each row (no grant, expired, revoked, disabled, locked
// out) and each client (psql, the pg driver), the user gets no session, the target never sees
// a login (its own connection log), no credential is unlocked, and the refusal is audited with
// its reason; the same user with a valid grant gets in (positive control). A grant revoked or
// expiring during a live session ends it.
let world: PgWorld;
const by = { actor: 'sweep' };
const TARGET = 'orders-db';
const grantIds: Record<string, string> = {};

/** The cluster's log of leased-role logins (log_connections). */
function upstreamLogins(): number {
  return world.cluster
    .readLog()
    .split('\n')
    .filter((line) => line.includes(`connection authorized: user=${LEASED_ROLE}`)).length;
}

interface Attempt {
  readonly isGranted: boolean;
  readonly detail: string;
}

/** The clients of the sweep; each runs `select <n>` as `user` and says whether the answer came. */
const CLIENTS: Record<string, (user: string) => Promise<Attempt>> = {
  psql: async (user) => {
    const run = await world.psql(['-At', '-c', 'select 4242'], {
      login: `${user}#${TARGET}`,
      timeoutMs: 60_000,
    });
    return {
      isGranted: run.stdout.trim() === '4242',
      detail: `${run.code} ${run.stdout} ${run.stderr}`,
    };
  },
  'pg driver': async (user) => {
    const client = new pg.Client(
      world.clientConfig({ login: `${user}#${TARGET}`, connectionTimeoutMillis: 60_000 }),
    );
    try {
      await client.connect();
      const { rows } = await client.query<{ n: number }>('select 4243 as n');
      return { isGranted: rows[0]?.n === 4243, detail: 'connected' };
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { isGranted: false, detail: `${e.code ?? ''} ${e.message}` };
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};

async function eventsAfter(seq: number): Promise<AuditLine[]> {
  return (await world.auditEvents()).filter((e) => e.seq > seq);
}

async function lastSeq(): Promise<number> {
  return (await world.auditEvents(1)).at(-1)?.seq ?? 0;
}

/** Every client as `user`: refused, nothing upstream, no unlock, audited as `expected`. */
async function expectRefused(
  user: string,
  expected: { type: string; reason: string },
): Promise<void> {
  for (const [name, attempt] of Object.entries(CLIENTS)) {
    const seq = await lastSeq();
    const logins = upstreamLogins();
    const result = await attempt(user);
    expect({ client: name, isGranted: result.isGranted }, result.detail).toEqual({
      client: name,
      isGranted: false,
    });
    const events = await eventually(async () => {
      const found = await eventsAfter(seq);
      return found.some((e) => e.type === expected.type && e.user === user) ? found : undefined;
    }, 20_000);
    expect(
      events.find((e) => e.type === expected.type && e.user === user)?.data,
      name,
    ).toMatchObject({ reason: expected.reason });
    expect(
      events
        .filter((e) => e.user === user && ['credential.unlock', 'session.start'].includes(e.type))
        .map((e) => e.type),
      name,
    ).toEqual([]);
    expect({ client: name, upstreamLogins: upstreamLogins() - logins }).toEqual({
      client: name,
      upstreamLogins: 0,
    });
  }
}

/** The positive control: every client as `user` gets in, and the credential was unlocked for them. */
async function expectGranted(user: string): Promise<void> {
  const seq = await lastSeq();
  const logins = upstreamLogins();
  for (const [name, attempt] of Object.entries(CLIENTS)) {
    const result = await attempt(user);
    expect({ client: name, isGranted: result.isGranted }, result.detail).toEqual({
      client: name,
      isGranted: true,
    });
  }
  const unlocks = await eventually(async () => {
    const found = (await eventsAfter(seq)).filter(
      (e) => e.type === 'credential.unlock' && e.user === user,
    );
    return found.length >= 2 ? found : undefined;
  }, 20_000);
  expect(unlocks.map((e) => e.target)).toEqual([TARGET, TARGET]);
  await eventually(() => (upstreamLogins() - logins >= 2 ? true : undefined), 20_000);
}

async function grant(user: string, durationMs: number): Promise<string> {
  const created = await world.cp.grants.create(
    { subject: { kind: 'user', name: user }, scope: { kind: 'target', name: TARGET }, durationMs },
    by,
  );
  grantIds[user] = created.id;
  return created.id;
}

beforeAll(async () => {
  world = await startPgWorld({ clusterSettings: { log_connections: 'on' } });
  for (const user of ['nina', 'eddie', 'rita', 'dora', 'luke', 'xena', 'yuri'])
    await world.cp.users.add(user, { ...by, password: ALICE_PASSWORD });
  for (const user of ['rita', 'dora', 'luke']) await grant(user, 3_600_000);
}, 300_000);

afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

describe('postgres authorization sweep', () => {
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
    await world.cp.grants.revoke(grantIds['rita'] ?? '', by);
    await expectRefused('rita', { type: 'access.denied', reason: 'grant-revoked' });
  }, 240_000);

  it('a-disabled-user-is-refused-at-login-as-disabled-then-enabled-gets-in', async () => {
    await world.cp.users.disable('dora', by);
    await expectRefused('dora', { type: 'auth.failure', reason: 'disabled' });
    await world.cp.users.enable('dora', by);
    await expectGranted('dora');
  }, 240_000);

  it('a-locked-out-user-is-refused-at-login-as-locked-even-with-the-right-password', async () => {
    await expectGranted('luke');
    for (let i = 0; i < 5; i += 1) {
      const wrong = await world.psql(['-c', 'select 1'], {
        login: `luke#${TARGET}`,
        password: `wrong-${i}`,
        timeoutMs: 60_000,
      });
      expect(wrong.code).not.toBe(0);
    }
    await eventually(
      async () =>
        (await world.auditEvents(50)).find((e) => e.type === 'auth.lockout' && e.user === 'luke'),
      20_000,
    );
    // The lock lasts 30 s at first: long enough for both clients.
    await expectRefused('luke', { type: 'auth.failure', reason: 'locked' });
  }, 240_000);
});

describe('postgres access that ends during a live session', () => {
  /** Connects as `user`, then waits for the session to be ended; returns the error and session id. */
  async function liveSessionEndedBy(
    user: string,
    end: () => Promise<void>,
  ): Promise<{ error: pg.DatabaseError; sid: string }> {
    const client = await world.connect({
      login: `${user}#${TARGET}`,
      connectionTimeoutMillis: 60_000,
    });
    const ended = new Promise<Error>((resolve) => client.on('error', resolve));
    const { rows } = await client.query<{ app: string }>(
      "select current_setting('application_name') as app",
    );
    const sid = /gatehouse:(ses_[0-9a-f]+)/.exec(rows[0]?.app ?? '')?.[1] ?? '';
    expect(
      (
        await world.superQuery<{ n: number }>(
          'select count(*)::int as n from pg_stat_activity where application_name like $1',
          [`%${sid}%`],
        )
      ).rows[0]?.n,
    ).toBe(1);
    await end();
    const error = (await ended) as pg.DatabaseError;
    await client.end().catch(() => undefined);
    return { error, sid };
  }

  async function expectEnded(sid: string): Promise<void> {
    const endEvent = await eventually(
      async () =>
        (await world.auditEvents(200)).find((e) => e.type === 'session.end' && e.sid === sid),
      30_000,
    );
    expect(endEvent.data).toMatchObject({ status: 'terminated', reason: 'access-ended' });
    // The upstream backend is gone too.
    await eventually(
      async () =>
        (
          await world.superQuery<{ n: number }>(
            'select count(*)::int as n from pg_stat_activity where application_name like $1',
            [`%${sid}%`],
          )
        ).rows[0]?.n === 0
          ? true
          : undefined,
      30_000,
    );
  }

  it('revoking-the-grant-ends-a-live-session-with-57P01', async () => {
    const id = await grant('xena', 3_600_000);
    const { error, sid } = await liveSessionEndedBy('xena', async () => {
      await world.cp.grants.revoke(id, by);
    });
    expect(error.code).toBe('57P01');
    await expectEnded(sid);
  }, 120_000);

  it('a-grant-that-expires-during-a-live-session-ends-it', async () => {
    const created = await world.cp.grants.create(
      {
        subject: { kind: 'user', name: 'yuri' },
        scope: { kind: 'target', name: TARGET },
        durationMs: 20_000,
      },
      by,
    );
    const { error, sid } = await liveSessionEndedBy('yuri', () => Promise.resolve());
    expect(Date.now()).toBeGreaterThanOrEqual(created.expiresAt ?? Infinity);
    expect(error.code).toBe('57P01');
    await expectEnded(sid);
  }, 120_000);
});
