import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tailAudit } from '../../src/audit/index.js';
import type { ControlPlane } from '../../src/cli/context.js';
import { eventually } from '../postgres/fixture.js';

/**
 * The database half of the authorization sweep (issue #8), one table of rows for PostgreSQL
 * and MySQL alike: for each row (no grant, expired, revoked, disabled, locked out) and each
 * real client, the user gets no session, the target never sees a login, no credential is
 * unlocked, and the refusal is audited with its reason; the same user with a valid grant gets
 * in (positive control). A grant revoked or expiring during a live session ends it.
 */

/** What one client attempt achieved. */
export interface Attempt {
  /** The client got the answer of its query from the target. */
  readonly isGranted: boolean;
  /** What the client saw, for failure messages. */
  readonly detail: string;
}

/** A live session through Gatehouse, open on the target. */
export interface LiveSession {
  readonly sid: string;
  /** Resolves once the client was told the session ended; checks how (the protocol's way). */
  ended(): Promise<void>;
}

/** What one protocol brings to the sweep: its running setup, its clients and its target. */
export interface DbSweepWorld extends AsyncDisposable {
  /** The target every row aims at. */
  readonly target: string;
  /**
   * The control plane of the running setup, opened in the test process on the same store (as
   * a second `gatehouse` CLI would): users, grants, audit without a CLI process each.
   */
  readonly cp: ControlPlane;
  /** The Gatehouse password of every user the sweep adds. */
  readonly password: string;
  /** The real clients; each runs a select as `user` (with {@link password}) and says whether the answer came. */
  readonly clients: Readonly<Record<string, (user: string) => Promise<Attempt>>>;
  /** One login as `user` with `password` (a wrong one). */
  login(user: string, password: string): Promise<Attempt>;
  /** Logins (or connections) the target has seen so far, by its own account. */
  upstreamLogins(): number;
  /** Opens a session as `user` and checks it reached the target. */
  openSession(user: string): Promise<LiveSession>;
  /** Backends the target holds for session `sid`. */
  upstreamSessions(sid: string): Promise<number>;
}

/** Options of {@link describeDbSweep}. */
export interface DbSweepOptions {
  /** `postgres` or `mysql`: names the describe blocks. */
  readonly protocol: string;
  /** Starts the protocol's world (run in `beforeAll`, disposed in `afterAll`). */
  start(): Promise<DbSweepWorld>;
  /** How the client is told a live session ended, for the revoke row's name (`with-57P01`). */
  readonly endedHow?: string;
}

const BY = { actor: 'sweep' };
const HOUR_MS = 3_600_000;
/** How long an audit event or an upstream login may take to show. */
const WAIT_MS = 20_000;

/** One row of the sweep: a user, what happens to their access, and what then must hold. */
interface SweepRow {
  readonly name: string;
  run(sweep: DbSweep): Promise<void>;
}

/** Every row, refusals and their positive controls. */
const ROWS: readonly SweepRow[] = [
  {
    name: 'no-grant-is-refused-before-any-unlock-then-a-grant-lets-the-same-user-in',
    run: async (s) => {
      await s.expectRefused('nina', { type: 'access.denied', reason: 'no-grant' });
      await s.grant('nina', HOUR_MS);
      await s.expectGranted('nina');
    },
  },
  {
    name: 'an-expired-grant-is-refused-as-grant-expired-then-a-new-grant-lets-the-same-user-in',
    run: async (s) => {
      await s.grant('eddie', 1_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await s.expectRefused('eddie', { type: 'access.denied', reason: 'grant-expired' });
      await s.grant('eddie', HOUR_MS);
      await s.expectGranted('eddie');
    },
  },
  {
    name: 'a-revoked-grant-is-refused-as-grant-revoked',
    run: async (s) => {
      await s.expectGranted('rita');
      await s.world.cp.grants.revoke(s.grantIds['rita'] ?? '', BY);
      await s.expectRefused('rita', { type: 'access.denied', reason: 'grant-revoked' });
    },
  },
  {
    name: 'a-disabled-user-is-refused-at-login-as-disabled-then-enabled-gets-in',
    run: async (s) => {
      await s.world.cp.users.disable('dora', BY);
      await s.expectRefused('dora', { type: 'auth.failure', reason: 'disabled' });
      await s.world.cp.users.enable('dora', BY);
      await s.expectGranted('dora');
    },
  },
  {
    name: 'a-locked-out-user-is-refused-at-login-as-locked-even-with-the-right-password',
    run: async (s) => {
      await s.expectGranted('luke');
      for (let i = 0; i < 5; i += 1) {
        const wrong = await s.world.login('luke', `wrong-${i}`);
        expect(wrong.isGranted, wrong.detail).toBe(false);
      }
      await eventually(
        async () =>
          (await s.events(50)).find((e) => e.type === 'auth.lockout' && e.user === 'luke'),
        WAIT_MS,
      );
      // The lock lasts 30 s at first: long enough for every client.
      await s.expectRefused('luke', { type: 'auth.failure', reason: 'locked' });
    },
  },
];

/** Users the rows use; those granted before the rows run. */
const USERS = ['nina', 'eddie', 'rita', 'dora', 'luke', 'xena', 'yuri'];
const GRANTED_AT_START = ['rita', 'dora', 'luke'];

/**
 * Declares the sweep for one protocol: the rows above, then the live-session rows (a grant
 * revoked, a grant that expires), against the world `options.start` returns.
 */
export function describeDbSweep(options: DbSweepOptions): void {
  let sweep: DbSweep;
  beforeAll(async () => {
    sweep = new DbSweep(await options.start());
    for (const user of USERS)
      await sweep.world.cp.users.add(user, { ...BY, password: sweep.world.password });
    for (const user of GRANTED_AT_START) await sweep.grant(user, HOUR_MS);
  }, 300_000);

  afterAll(async () => {
    await sweep?.world[Symbol.asyncDispose]();
  });

  describe(`${options.protocol} authorization sweep`, () => {
    for (const row of ROWS) it(row.name, () => row.run(sweep), 240_000);
  });

  describe(`${options.protocol} access that ends during a live session`, () => {
    const endedHow = options.endedHow === undefined ? '' : `-${options.endedHow}`;

    it(`revoking-the-grant-ends-a-live-session${endedHow}`, async () => {
      const { id } = await sweep.grant('xena', HOUR_MS);
      const sid = await sweep.liveSessionEndedBy('xena', async () => {
        await sweep.world.cp.grants.revoke(id, BY);
      });
      await sweep.expectEnded(sid);
    }, 120_000);

    it('a-grant-that-expires-during-a-live-session-ends-it', async () => {
      const { expiresAt } = await sweep.grant('yuri', 20_000);
      const sid = await sweep.liveSessionEndedBy('yuri', () => Promise.resolve());
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      await sweep.expectEnded(sid);
    }, 120_000);
  });
}

/** The checks every row is made of, on one world. */
class DbSweep {
  /** The last grant made to each user. */
  readonly grantIds: Record<string, string> = {};

  constructor(readonly world: DbSweepWorld) {}

  /** The last `limit` audit events, oldest first. */
  events(limit = 5000): ReturnType<typeof tailAudit> {
    return tailAudit(this.world.cp.store.db, { limit });
  }

  async lastSeq(): Promise<number> {
    return (await this.events(1)).at(-1)?.seq ?? 0;
  }

  /** Grants `user` the target for `durationMs`; returns the grant id and its end. */
  async grant(user: string, durationMs: number): Promise<{ id: string; expiresAt: number }> {
    const created = await this.world.cp.grants.create(
      {
        subject: { kind: 'user', name: user },
        scope: { kind: 'target', name: this.world.target },
        durationMs,
      },
      BY,
    );
    this.grantIds[user] = created.id;
    return { id: created.id, expiresAt: created.expiresAt ?? Number.POSITIVE_INFINITY };
  }

  /** Every client as `user`: refused, nothing upstream, no unlock, audited as `expected`. */
  async expectRefused(user: string, expected: { type: string; reason: string }): Promise<void> {
    for (const [name, attempt] of Object.entries(this.world.clients)) {
      const seq = await this.lastSeq();
      const logins = this.world.upstreamLogins();
      const result = await attempt(user);
      expect({ client: name, isGranted: result.isGranted }, result.detail).toEqual({
        client: name,
        isGranted: false,
      });
      const events = await eventually(async () => {
        const found = (await this.events()).filter((e) => e.seq > seq);
        return found.some((e) => e.type === expected.type && e.user === user) ? found : undefined;
      }, WAIT_MS);
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
      expect({ client: name, upstreamLogins: this.world.upstreamLogins() - logins }).toEqual({
        client: name,
        upstreamLogins: 0,
      });
    }
  }

  /** The positive control: every client as `user` gets in, and the credential was unlocked for them. */
  async expectGranted(user: string): Promise<void> {
    const seq = await this.lastSeq();
    const logins = this.world.upstreamLogins();
    const clients = Object.entries(this.world.clients);
    for (const [name, attempt] of clients) {
      const result = await attempt(user);
      expect({ client: name, isGranted: result.isGranted }, result.detail).toEqual({
        client: name,
        isGranted: true,
      });
    }
    const unlocks = await eventually(async () => {
      const found = (await this.events()).filter(
        (e) => e.seq > seq && e.type === 'credential.unlock' && e.user === user,
      );
      return found.length >= clients.length ? found : undefined;
    }, WAIT_MS);
    expect(unlocks.map((e) => e.target)).toEqual(clients.map(() => this.world.target));
    await eventually(
      () => (this.world.upstreamLogins() - logins >= clients.length ? true : undefined),
      WAIT_MS,
    );
  }

  /** Opens a session as `user`, runs `end`, and waits until the client was told; returns the session id. */
  async liveSessionEndedBy(user: string, end: () => Promise<void>): Promise<string> {
    const session = await this.world.openSession(user);
    await end();
    await session.ended();
    return session.sid;
  }

  /** The session ended as terminated for access-ended, and the target holds nothing of it. */
  async expectEnded(sid: string): Promise<void> {
    const endEvent = await eventually(
      async () => (await this.events(500)).find((e) => e.type === 'session.end' && e.sid === sid),
      30_000,
    );
    expect(endEvent.data).toMatchObject({ status: 'terminated', reason: 'access-ended' });
    await eventually(
      async () => ((await this.world.upstreamSessions(sid)) === 0 ? true : undefined),
      30_000,
    );
  }
}
