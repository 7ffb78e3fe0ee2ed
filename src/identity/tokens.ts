import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Database } from '../store/schema.js';
import type { ActorOptions } from './deps.js';
import { getUserRow } from './user-rows.js';

/** Prefix of every personal access token, so secret scanners and logs can spot one. */
export const TOKEN_PREFIX = 'ght_';

const TOKEN_SECRET_BYTES = 32;
/** `ght_` + base64url of 32 random bytes (43 characters). */
const TOKEN_PATTERN = /^ght_[A-Za-z0-9_-]{43}$/;

/** A token's metadata; the secret itself is never stored nor listed. */
export interface TokenInfo {
  readonly id: string;
  readonly userId: string;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/** A freshly created token: the only time its secret is available. */
export interface CreatedToken {
  readonly id: string;
  readonly secret: string;
  readonly expiresAt: number;
}

/** The outcome of {@link Tokens.verify}. */
export type TokenVerification =
  | { readonly ok: true; readonly tokenId: string; readonly userId: string }
  | {
      readonly ok: false;
      readonly reason: 'malformed' | 'unknown' | 'expired' | 'revoked';
      /** Known when the token exists (expired or revoked). */
      readonly userId: string | null;
    };

/** True when `text` has the shape of a personal access token (not that it is valid). */
export function isTokenShaped(text: string): boolean {
  return TOKEN_PATTERN.test(text);
}

/** SHA-256 (hex) of a token secret: the only form stored. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Personal access tokens: created once, stored as hashes, expiring, revocable. */
export class Tokens {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;

  constructor(deps: {
    readonly db: Kysely<Database>;
    readonly audit: AuditWriter;
    readonly clock?: Clock;
  }) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Creates a token for `userName` valid until `expiresAt` (ms); returns its secret once. */
  async create(
    userName: string,
    options: ActorOptions & { readonly expiresAt: number },
  ): Promise<CreatedToken> {
    const now = this.#clock();
    if (!Number.isSafeInteger(options.expiresAt) || options.expiresAt <= now) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: 'token expiry must be in the future',
      });
    }
    const user = await getUserRow(this.#db, userName);
    const id = newId('tok');
    const secret = TOKEN_PREFIX + randomBytes(TOKEN_SECRET_BYTES).toString('base64url');
    await this.#audit.append({
      type: 'admin.token.create',
      user: userName,
      data: { by: options.actor, tokenId: id, expiresAt: options.expiresAt },
    });
    await this.#db
      .insertInto('tokens')
      .values({
        id,
        user_id: user.id,
        token_hash: hashTokenSecret(secret),
        expires_at: options.expiresAt,
        created_at: now,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return { id, secret, expiresAt: options.expiresAt };
  }

  /**
   * Checks a presented secret: found by its hash (so time does not depend on the secret),
   * compared again in constant time, refused when expired or revoked. Read-only.
   */
  async verify(secret: string): Promise<TokenVerification> {
    if (!isTokenShaped(secret)) return { ok: false, reason: 'malformed', userId: null };
    const hash = hashTokenSecret(secret);
    const row = await this.#db
      .selectFrom('tokens')
      .selectAll()
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    if (row === undefined || !timingSafeEqual(Buffer.from(row.token_hash), Buffer.from(hash))) {
      return { ok: false, reason: 'unknown', userId: null };
    }
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked', userId: row.user_id };
    if (this.#clock() >= row.expires_at)
      return { ok: false, reason: 'expired', userId: row.user_id };
    return { ok: true, tokenId: row.id, userId: row.user_id };
  }

  /** Records that token `tokenId` was just used to log in (on `db`: a caller's transaction). */
  async recordUse(tokenId: string, db: Kysely<Database> = this.#db): Promise<void> {
    await db
      .updateTable('tokens')
      .set({ last_used_at: this.#clock() })
      .where('id', '=', tokenId)
      .execute();
  }

  /** Revokes token `tokenId` (GH_NOT_FOUND when there is none; revoking twice is a no-op). */
  async revoke(tokenId: string, options: ActorOptions): Promise<void> {
    const row = await this.#db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select(['tokens.id', 'tokens.revoked_at', 'users.name'])
      .where('tokens.id', '=', tokenId)
      .executeTakeFirst();
    if (row === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `token "${tokenId}" not found` });
    if (row.revoked_at !== null) return;
    await this.#audit.append({
      type: 'admin.token.revoke',
      user: row.name,
      data: { by: options.actor, tokenId },
    });
    await this.#db
      .updateTable('tokens')
      .set({ revoked_at: this.#clock() })
      .where('id', '=', tokenId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** The tokens of `userName`, newest first (metadata only). */
  async list(userName: string): Promise<TokenInfo[]> {
    const user = await getUserRow(this.#db, userName);
    const rows = await this.#db
      .selectFrom('tokens')
      .select(['id', 'user_id', 'expires_at', 'created_at', 'last_used_at', 'revoked_at'])
      .where('user_id', '=', user.id)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      userId: r.user_id,
      expiresAt: r.expires_at,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    }));
  }
}
