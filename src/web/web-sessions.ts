import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { systemClock, type Clock } from '../core/clock.js';
import type { Database } from '../store/schema.js';

/** A console session ends after this long without a request. */
export const SESSION_IDLE_MS = 30 * 60_000;
/** A console session ends this long after login, however active. */
export const SESSION_MAX_MS = 12 * 3_600_000;
/** A password-verified login waits at most this long for its TOTP code. */
export const LOGIN_TICKET_MS = 5 * 60_000;
/** `lastSeenAt` is written at most this often (one store write per minute per session). */
const TOUCH_EVERY_MS = 60_000;

const SESSION_PREFIX = 'web.session:';
const TICKET_PREFIX = 'web.login:';
const SECRET_BYTES = 32;

/** A signed-in console session as stored (the cookie secret itself is never stored). */
export interface WebSession {
  readonly user: string;
  readonly csrfToken: string;
  readonly clientAddr: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
}

/**
 * Console sessions and pending TOTP logins, kept in the store's `kv` table so that every
 * control plane sharing the store sees them and a restart does not log everyone out. Keys
 * hold only the SHA-256 of the cookie secret: reading the store does not give a session.
 */
export class WebSessionStore {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;

  constructor(deps: { readonly db: Kysely<Database>; readonly clock?: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Starts a session for `user`; returns the cookie secret (shown to nobody else) and the session. */
  async create(
    user: string,
    clientAddr: string | null,
  ): Promise<{ secret: string; session: WebSession }> {
    const secret = newSecret();
    const now = this.#clock();
    const session: WebSession = {
      user,
      csrfToken: newSecret(),
      clientAddr,
      createdAt: now,
      lastSeenAt: now,
    };
    await this.#db
      .insertInto('kv')
      .values({ key: SESSION_PREFIX + digest(secret), value: JSON.stringify(session) })
      .execute();
    void this.purgeExpired().catch(() => undefined);
    return { secret, session };
  }

  /** The live session for a cookie secret, or undefined (unknown, idle too long, too old). */
  async find(secret: string): Promise<WebSession | undefined> {
    if (!isSecretShaped(secret)) return undefined;
    const key = SESSION_PREFIX + digest(secret);
    const row = await this.#db
      .selectFrom('kv')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    const session = row === undefined ? undefined : parseSession(row.value);
    if (session === undefined) return undefined;
    const now = this.#clock();
    if (now - session.lastSeenAt >= SESSION_IDLE_MS || now - session.createdAt >= SESSION_MAX_MS) {
      await this.#db.deleteFrom('kv').where('key', '=', key).execute();
      return undefined;
    }
    if (now - session.lastSeenAt >= TOUCH_EVERY_MS) {
      const touched = { ...session, lastSeenAt: now };
      await this.#db
        .updateTable('kv')
        .set({ value: JSON.stringify(touched) })
        .where('key', '=', key)
        .execute();
      return touched;
    }
    return session;
  }

  /** Ends the session of a cookie secret (logout). */
  async delete(secret: string): Promise<void> {
    if (!isSecretShaped(secret)) return;
    await this.#db
      .deleteFrom('kv')
      .where('key', '=', SESSION_PREFIX + digest(secret))
      .execute();
  }

  /** Ends every console session of `user` (password reset, disable); returns how many. */
  async deleteForUser(user: string): Promise<number> {
    const rows = await this.#db
      .selectFrom('kv')
      .select(['key', 'value'])
      .where('key', 'like', `${SESSION_PREFIX}%`)
      .execute();
    const keys = rows.filter((r) => parseSession(r.value)?.user === user).map((r) => r.key);
    if (keys.length > 0) await this.#db.deleteFrom('kv').where('key', 'in', keys).execute();
    return keys.length;
  }

  /** A single-use ticket saying `user` passed the password step; the TOTP step redeems it. */
  async createLoginTicket(user: string): Promise<string> {
    const secret = newSecret();
    const value = JSON.stringify({ user, expiresAt: this.#clock() + LOGIN_TICKET_MS });
    await this.#db
      .insertInto('kv')
      .values({ key: TICKET_PREFIX + digest(secret), value })
      .execute();
    return secret;
  }

  /** Redeems a login ticket once: the user it was made for, or undefined (unknown, used, expired). */
  async redeemLoginTicket(secret: string): Promise<string | undefined> {
    if (!isSecretShaped(secret)) return undefined;
    const key = TICKET_PREFIX + digest(secret);
    const row = await this.#db
      .selectFrom('kv')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    // The delete decides who redeems it when two requests race.
    const deleted = await this.#db.deleteFrom('kv').where('key', '=', key).executeTakeFirst();
    if (Number(deleted.numDeletedRows) !== 1) return undefined;
    const parsed = parseJson(row.value);
    if (
      parsed === undefined ||
      typeof parsed['user'] !== 'string' ||
      typeof parsed['expiresAt'] !== 'number'
    )
      return undefined;
    return parsed['expiresAt'] > this.#clock() ? parsed['user'] : undefined;
  }

  /** Deletes expired sessions and tickets. */
  async purgeExpired(): Promise<void> {
    const now = this.#clock();
    const rows = await this.#db
      .selectFrom('kv')
      .select(['key', 'value'])
      .where((eb) =>
        eb.or([eb('key', 'like', `${SESSION_PREFIX}%`), eb('key', 'like', `${TICKET_PREFIX}%`)]),
      )
      .execute();
    const stale = rows
      .filter((r) => {
        const v = parseJson(r.value);
        if (v === undefined) return true;
        if (r.key.startsWith(TICKET_PREFIX))
          return typeof v['expiresAt'] !== 'number' || v['expiresAt'] <= now;
        const s = parseSession(r.value);
        return (
          s === undefined ||
          now - s.lastSeenAt >= SESSION_IDLE_MS ||
          now - s.createdAt >= SESSION_MAX_MS
        );
      })
      .map((r) => r.key);
    if (stale.length > 0) await this.#db.deleteFrom('kv').where('key', 'in', stale).execute();
  }
}

function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

function isSecretShaped(secret: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(secret);
}

function digest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function parseSession(text: string): WebSession | undefined {
  const v = parseJson(text);
  if (v === undefined) return undefined;
  const { user, csrfToken, clientAddr, createdAt, lastSeenAt } = v;
  if (
    typeof user !== 'string' ||
    typeof csrfToken !== 'string' ||
    typeof createdAt !== 'number' ||
    typeof lastSeenAt !== 'number'
  )
    return undefined;
  return {
    user,
    csrfToken,
    clientAddr: typeof clientAddr === 'string' ? clientAddr : null,
    createdAt,
    lastSeenAt,
  };
}
