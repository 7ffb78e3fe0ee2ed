import type { Kysely } from 'kysely';
import type { AccessPolicy } from '../policy/access.js';
import type { Database } from '../store/schema.js';

/** How often kill requests are looked for (the CLI promises "within a second"). */
export const KILL_POLL_MS = 500;
/** How often each live session's access is checked again (grant revoked or expired, user disabled). */
export const ACCESS_RECHECK_MS = 2_000;
/** Key prefix in the `kv` table of a request to end a session. */
export const KILL_KEY_PREFIX = 'session.kill:';

interface Watched {
  readonly user: string;
  readonly target: string;
  readonly controller: AbortController;
  lastAccessCheck: number;
}

/**
 * Ends live sessions when the store says so. The store is the event bus: `gatehouse sessions
 * kill` writes a kill request any gateway sees, and access is re-checked so a revoked grant,
 * an expired one or a disabled user ends the session even when the change came from another
 * process.
 */
export class SessionWatch {
  readonly #db: Kysely<Database>;
  readonly #access: AccessPolicy;
  readonly #sessions = new Map<string, Watched>();
  #timer: NodeJS.Timeout | undefined;
  #isPolling = false;

  constructor(deps: { readonly db: Kysely<Database>; readonly access: AccessPolicy }) {
    this.#db = deps.db;
    this.#access = deps.access;
  }

  /** Starts watching a session; the returned signal aborts with the reason it must end. */
  watch(sid: string, user: string, target: string): AbortSignal {
    const controller = new AbortController();
    this.#sessions.set(sid, { user, target, controller, lastAccessCheck: Date.now() });
    this.#timer ??= setInterval(() => void this.#poll(), KILL_POLL_MS).unref();
    return controller.signal;
  }

  /** Stops watching (the session ended) and clears its kill request. */
  async forget(sid: string): Promise<void> {
    this.#sessions.delete(sid);
    if (this.#sessions.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    await this.#db.deleteFrom('kv').where('key', '=', `${KILL_KEY_PREFIX}${sid}`).execute();
  }

  async #poll(): Promise<void> {
    if (this.#isPolling || this.#sessions.size === 0) return;
    this.#isPolling = true;
    try {
      const kills = await this.#db
        .selectFrom('kv')
        .select(['key', 'value'])
        .where('key', 'like', `${KILL_KEY_PREFIX}%`)
        .execute();
      for (const kill of kills) {
        this.#sessions
          .get(kill.key.slice(KILL_KEY_PREFIX.length))
          ?.controller.abort(kill.value || 'killed by an administrator');
      }
      // One check per user and target, however many of their sessions are due: hundreds of
      // sessions of a few people (connection pools, a soak) would otherwise cost hundreds of
      // identical checks every period.
      const now = Date.now();
      const checks = new Map<string, Promise<boolean>>();
      for (const watched of this.#sessions.values()) {
        if (watched.controller.signal.aborted || now - watched.lastAccessCheck < ACCESS_RECHECK_MS)
          continue;
        watched.lastAccessCheck = now;
        const pair = JSON.stringify([watched.user, watched.target]);
        let check = checks.get(pair);
        if (check === undefined) {
          check = this.#access.isAllowedQuietly(watched.user, watched.target);
          checks.set(pair, check);
        }
        if (!(await check))
          watched.controller.abort('access ended (grant revoked or expired, or user disabled)');
      }
    } catch {
      // The store is briefly unavailable: try again at the next tick; sessions go on.
    } finally {
      this.#isPolling = false;
    }
  }
}

/** Asks every gateway to end session `sid` (seen within {@link KILL_POLL_MS}). */
export async function requestSessionKill(
  db: Kysely<Database>,
  sid: string,
  reason: string,
): Promise<void> {
  await db
    .insertInto('kv')
    .values({ key: `${KILL_KEY_PREFIX}${sid}`, value: reason })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: reason }))
    .execute();
}
