import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { User } from '../core/types.js';
import type { Database } from '../store/schema.js';
import type { AuthContext, CheckFailure, CheckResult, VerifyOptions } from './auth-types.js';
import type { LockoutPolicy } from './deps.js';
import { KeyedMutex } from './keyed-mutex.js';
import { recordFailure, resetFailures } from './lockout.js';
import { isValidName } from './names.js';
import { toUser, type UserRow } from './user-rows.js';

/**
 * The one place that turns a checked proof into a login decision: disabled and locked users
 * are refused whatever they prove, failures are counted and may start a lock, and every
 * outcome is audited with its real reason while the caller only ever sees GH_AUTH_FAILED.
 */
export class AuthJudge {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;
  readonly #lockout: LockoutPolicy;
  readonly #mutex = new KeyedMutex();

  constructor(deps: {
    readonly db: Kysely<Database>;
    readonly audit: AuditWriter;
    readonly clock: Clock;
    readonly lockout: LockoutPolicy;
  }) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#lockout = deps.lockout;
  }

  /**
   * Runs `work` for user `userId` after any attempt already running for that user (in this
   * process), handing it the user's row as it is now; undefined if the user has gone.
   */
  async serialize<T>(userId: string, work: (row: UserRow | undefined) => Promise<T>): Promise<T> {
    return this.#mutex.run(userId, async () => {
      const row = await this.#db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', userId)
        .executeTakeFirst();
      return work(row);
    });
  }

  /**
   * Decides an attempt by `row` whose proof gave `result`; returns the user or throws
   * GH_AUTH_FAILED. A success is one transaction: the proof's own `commit` (a TOTP step, a
   * token's last use), the reset of the failure count, the caller's `onSuccess` and the
   * `auth.success` event commit together (one disk sync), or none of them does.
   */
  async judge(
    row: UserRow,
    ctx: AuthContext,
    result: CheckResult,
    options: { readonly countsFailure: boolean } & VerifyOptions,
  ): Promise<User> {
    const now = this.#clock();
    if (row.disabled === 1) return this.deny(row.name, ctx, { ok: false, reason: 'disabled' });
    if (row.locked_until > now) {
      return this.deny(row.name, ctx, {
        ok: false,
        reason: 'locked',
        detail: `until ${row.locked_until}`,
      });
    }
    const outcome = result.ok ? await this.#commitSuccess(row, ctx, result, options) : result;
    if (outcome.ok) return outcome.user;
    const failure = outcome;
    if (!options.countsFailure) return this.deny(row.name, ctx, failure);
    const record = await recordFailure(this.#db, row.id, { now, policy: this.#lockout });
    await this.#appendFailure(row.name, ctx, failure, record.failures);
    if (record.lockedUntil !== null) {
      await this.#audit.append({
        ...eventContext(row.name, ctx),
        type: 'auth.lockout',
        data: {
          method: ctx.method,
          failures: record.failures,
          lockS: record.lockS,
          lockedUntil: record.lockedUntil,
        },
      });
    }
    throw denied(failure);
  }

  /** Audits `failure` for `userName` (the name as claimed) and throws GH_AUTH_FAILED. */
  async deny(userName: string | null, ctx: AuthContext, failure: CheckFailure): Promise<never> {
    await this.#appendFailure(userName, ctx, failure, undefined);
    throw denied(failure);
  }

  async #commitSuccess(
    row: UserRow,
    ctx: AuthContext,
    result: CheckSuccess,
    options: VerifyOptions,
  ): Promise<{ readonly ok: true; readonly user: User } | CheckFailure> {
    // Read first: on SQLite a query outside the transaction would wait for its connection.
    const user = await toUser(this.#db, row);
    try {
      await this.#db.transaction().execute(async (trx) => {
        const failure = await result.commit?.(trx);
        if (failure !== undefined) throw new CommitRefused(failure);
        if (row.failed_count !== 0 || row.locked_until !== 0) await resetFailures(trx, row.id);
        await options.onSuccess?.(trx, user);
        await this.#audit.append(
          {
            ...eventContext(row.name, ctx),
            type: 'auth.success',
            data: { method: ctx.method, ...result.data },
          },
          { trx },
        );
      });
    } catch (err) {
      if (err instanceof CommitRefused) return err.failure;
      throw err;
    }
    return { ok: true, user };
  }

  async #appendFailure(
    userName: string | null,
    ctx: AuthContext,
    failure: CheckFailure,
    failures: number | undefined,
  ): Promise<void> {
    await this.#audit.append({
      ...eventContext(userName, ctx),
      type: 'auth.failure',
      data: {
        method: ctx.method,
        reason: failure.reason,
        ...(failure.detail === undefined ? {} : { detail: failure.detail }),
        ...(failures === undefined ? {} : { failures }),
      },
    });
  }
}

/** A successful check. */
type CheckSuccess = Extract<CheckResult, { readonly ok: true }>;

/** Thrown inside the success transaction to undo it when the proof's commit turns it into a failure. */
class CommitRefused extends Error {
  readonly failure: CheckFailure;

  constructor(failure: CheckFailure) {
    super(failure.reason);
    this.failure = failure;
  }
}

// A claimed name that cannot be a user name is not recorded: people type passwords into the
// user field, and no password may reach an event.
function eventContext(
  userName: string | null,
  ctx: AuthContext,
): { user: string | null; clientAddr: string | null; sid: string | null; gateway: string | null } {
  return {
    user: userName !== null && isValidName(userName) ? userName : null,
    clientAddr: ctx.clientAddr,
    sid: ctx.sid ?? null,
    gateway: ctx.gateway ?? null,
  };
}

// The same public error whatever the reason; the reason goes to the private detail (logs).
function denied(failure: CheckFailure): GatehouseError {
  return new GatehouseError('GH_AUTH_FAILED', {
    detail: failure.detail === undefined ? failure.reason : `${failure.reason}: ${failure.detail}`,
  });
}
