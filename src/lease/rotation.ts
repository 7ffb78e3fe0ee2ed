import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Target } from '../core/types.js';
import type { Database } from '../store/schema.js';
import { openCredential, sealCredential, serializeEnvelope, type Envelope } from './envelope.js';
import type { KmsProvider } from './kms.js';

// -------------------------------------------------------------------------------------------
// Scheduled rotation of a database target's leased password (DESIGN.md §4).
//
// Crash safety. The new password exists in two places, the target and the store, and no
// transaction spans both. So the store goes first and last:
//   1. the new version is sealed and inserted with status `pending` (never unlocked);
//   2. the target's password is changed over a connection made with the active password;
//   3. a fresh connection proves the new password works;
//   4. one store transaction flips pending -> active and active -> previous (still
//      decryptable by sessions that already lease it).
// If 2 or 3 fails, the target is set back (3) and the pending row is retired: the store is
// as before. If the process dies between 2 and 4, the target holds a password that only a
// `pending` row knows; the next rotation finds that stale row, and when the active password
// is refused it tries the pending one and promotes it ("recovered"). A fresh pending row
// means a rotation is running elsewhere, and this one stops.
// -------------------------------------------------------------------------------------------

/** Target kinds whose leased password can be rotated. */
export type RotatableKind = 'postgres' | 'mysql';

/** An authenticated connection to a target as its leased account. */
export interface PasswordSession extends AsyncDisposable {
  /**
   * Sets the connected account's password. Throws GH_ROTATION_FAILED (the server's reason in
   * `detail`, never the statement) or GH_UPSTREAM_UNREACHABLE.
   */
  setPassword(password: Buffer): Promise<void>;
  close(): Promise<void>;
}

/**
 * How rotation talks to one kind of database. `connect` throws GH_UPSTREAM_UNREACHABLE
 * (network, timeout), GH_UPSTREAM_AUTH_FAILED (password refused) or GH_ROTATION_FAILED.
 */
export interface PasswordApplier {
  connect(target: Target, password: Buffer): Promise<PasswordSession>;
}

/** The appliers by target kind (`rotate-postgres.ts`, `rotate-mysql.ts`). */
export type PasswordAppliers = Readonly<Partial<Record<RotatableKind, PasswordApplier>>>;

/** Finds a target by name (a `Targets` instance will do). */
export interface TargetLookup {
  find(name: string): Promise<Target | undefined>;
}

/** Dependencies of {@link rotateCredential}. */
export interface RotationDeps {
  readonly db: Kysely<Database>;
  readonly kms: KmsProvider;
  readonly audit: AuditWriter;
  readonly targets: TargetLookup;
  readonly appliers: PasswordAppliers;
  readonly clock?: Clock;
}

/** What a successful rotation did. */
export interface RotationResult {
  readonly target: string;
  readonly credentialId: string;
  readonly version: number;
  /** The version whose password was replaced (now `previous`). */
  readonly previousVersion: number;
  /** True when a pending version left by an interrupted rotation was found in use and promoted first. */
  readonly isRecovered: boolean;
}

/** Why a rotation failed; the `reason` of `admin.credential.rotate_failed`. */
export type RotationFailureReason =
  | 'no-credential'
  | 'busy'
  | 'unreachable'
  | 'auth-failed'
  | 'connect-failed'
  | 'change-refused'
  | 'verify-failed'
  | 'store-failed';

/** Length of a generated password: 32 base62 characters, about 190 bits. */
export const ROTATED_PASSWORD_LENGTH = 32;
/** Connect and statement timeout of every connection rotation makes. */
export const ROTATION_TIMEOUT_MS = 10_000;
/** A pending version younger than this belongs to a rotation still running. */
export const STALE_PENDING_MS = 5 * 60_000;

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const FAILURES: Record<
  RotationFailureReason,
  { readonly message: string; readonly hint?: string }
> = {
  'no-credential': { message: 'credential rotation failed: no password is set for this target' },
  busy: {
    message: 'credential rotation failed: another rotation of this target is in progress',
    hint: 'try again in a few minutes',
  },
  unreachable: {
    message: 'credential rotation failed: the target cannot be reached',
    hint: 'the credential is unchanged; try again when the target is up',
  },
  'auth-failed': {
    message: 'credential rotation failed: the target refused the current password',
    hint: 'set the password the target accepts with "gatehouse credential set TARGET", then rotate',
  },
  'connect-failed': { message: 'credential rotation failed: the target refused the connection' },
  'change-refused': {
    message: 'credential rotation failed: the target refused the password change',
    hint: 'the leased account must be allowed to change its own password',
  },
  'verify-failed': { message: 'credential rotation failed: the new password did not work' },
  'store-failed': { message: 'credential rotation failed: the new version could not be stored' },
};

/** A random password of base62 characters (no quote or backslash, safe even as an SQL literal). */
export function generateRotationPassword(length: number = ROTATED_PASSWORD_LENGTH): Buffer {
  const out = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const pool = randomBytes(length * 2);
    // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
    for (let i = 0; i < pool.length && filled < length; i++) {
      const byte = pool[i] ?? 255;
      if (byte < 248) out[filled++] = BASE62.charCodeAt(byte % 62);
    }
    pool.fill(0);
  }
  return out;
}

/** `created_at` of the target's active credential version, or undefined when there is none. */
export async function findActiveCredentialCreatedAt(
  db: Kysely<Database>,
  targetId: string,
): Promise<number | undefined> {
  const row = await db
    .selectFrom('credentials')
    .select('created_at')
    .where('target_id', '=', targetId)
    .where('status', '=', 'active')
    .orderBy('version', 'desc')
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.created_at);
}

interface CredentialRow {
  readonly id: string;
  readonly version: number;
  readonly kind: string;
  readonly status: string;
  readonly envelope: string;
  readonly createdAt: number;
}

/** Thrown inside a rotation: the reason to audit and the error to raise. */
class RotationFailure extends Error {
  constructor(
    readonly reason: RotationFailureReason,
    readonly error: GatehouseError,
    readonly extra: FailureExtra,
  ) {
    super(error.message);
  }
}

/**
 * Rotates the leased password of a PostgreSQL or MySQL target: a new random password is set
 * on the target by the leased account itself, checked with a fresh login, then stored as the
 * new active version while the old one stays `previous`. On any failure the store is left as
 * it was, `admin.credential.rotate_failed` says why, and GH_ROTATION_FAILED is thrown.
 */
export async function rotateCredential(
  targetName: string,
  options: { readonly actor: string },
  deps: RotationDeps,
): Promise<RotationResult> {
  // 1. A database target with an applier for its kind.
  const target = await deps.targets.find(targetName);
  if (target === undefined)
    throw new GatehouseError('GH_NOT_FOUND', { message: `target "${targetName}" does not exist` });
  if (target.kind === 'ssh') {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'rotation applies to database targets',
      hint: 'for an SSH target, run "gatehouse credential generate TARGET" and install the new public key',
    });
  }
  const applier = deps.appliers[target.kind];
  if (applier === undefined)
    throw new GatehouseError('GH_INTERNAL', {
      detail: `no password applier for ${target.kind} targets`,
    });
  const rotation = new Rotation(target, applier, options.actor, deps);
  try {
    return await rotation.run();
  } catch (err) {
    if (!(err instanceof RotationFailure)) throw err;
    await rotation.auditFailure(err);
    throw err.error;
  } finally {
    rotation.wipe();
  }
}

/** One rotation attempt: holds the secrets (wiped at the end) and the open target session. */
class Rotation {
  readonly #clock: Clock;
  readonly #next = generateRotationPassword();
  readonly #secrets: Buffer[] = [this.#next];
  #active: CredentialRow | undefined;
  #pending: CredentialRow | undefined;

  constructor(
    readonly target: Target,
    readonly applier: PasswordApplier,
    readonly actor: string,
    readonly deps: RotationDeps,
  ) {
    this.#clock = deps.clock ?? systemClock;
  }

  async run(): Promise<RotationResult> {
    // 2. The active version, and no rotation running elsewhere.
    const rows = await this.#rows();
    const active = rows.find((r) => r.status === 'active');
    if (active?.kind !== 'password') {
      throw this.#fail('no-credential', 'no active password version', { step: 'check' });
    }
    this.#active = active;
    const stale = rows.filter((r) => r.status === 'pending');
    if (stale.some((r) => r.createdAt > this.#clock() - STALE_PENDING_MS)) {
      throw this.#fail('busy', 'a fresh pending version exists', { step: 'check' });
    }
    // 3. The new version, sealed and stored as pending before the target changes.
    this.#pending = await this.#insertPending(Math.max(...rows.map((r) => r.version)) + 1);
    // 4. Log in with the active password (or a stale pending one an interrupted rotation set).
    const basis = await this.#connect(active, stale);
    const { session } = basis;
    try {
      // 5. Change the password on the target.
      try {
        await session.setPassword(this.#next);
      } catch (err) {
        await this.#retirePending();
        throw this.#failFrom(err, 'change-refused', { step: 'change' });
      }
      // 6. A fresh login with the new password; else the old one is set back.
      try {
        const check = await this.applier.connect(this.target, this.#next);
        await check.close();
      } catch (err) {
        const isReverted = await this.#revert(basis);
        throw this.#failFrom(err, 'verify-failed', { step: 'verify', isReverted });
      }
      // 7. One transaction flips the statuses.
      let changes: StatusChange[];
      try {
        changes = await this.#flip(active, basis.row, stale);
      } catch (err) {
        const isReverted = await this.#revert(basis);
        throw this.#fail('store-failed', describe(err), { step: 'store', isReverted });
      }
      const result: RotationResult = {
        target: this.target.name,
        credentialId: this.#pending.id,
        version: this.#pending.version,
        previousVersion: basis.row.version,
        isRecovered: basis.row !== active,
      };
      // 8. The audit event; fail closed.
      await this.#auditSuccess(result, basis, changes);
      return result;
    } finally {
      await session.close().catch(() => undefined);
    }
  }

  /** Audits a failure; an audit that fails too must not hide the rotation's own error. */
  async auditFailure(failure: RotationFailure): Promise<void> {
    const data: Record<string, unknown> = {
      by: this.actor,
      reason: failure.reason,
      detail: failure.error.detail ?? failure.error.message,
      version: this.#active?.version ?? null,
      pendingVersion: this.#pending?.version ?? null,
      ...failure.extra,
    };
    await this.deps.audit
      .append({ type: 'admin.credential.rotate_failed', target: this.target.name, data })
      .catch(() => undefined);
  }

  /** Zeroes every plaintext this rotation held. Strings the drivers made cannot be wiped. */
  wipe(): void {
    for (const secret of this.#secrets) secret.fill(0);
  }

  async #rows(): Promise<CredentialRow[]> {
    // One statement: its snapshot decides both "busy" and the next version number.
    const rows = await this.deps.db
      .selectFrom('credentials')
      .select(['id', 'version', 'kind', 'status', 'envelope', 'created_at'])
      .where('target_id', '=', this.target.id)
      .orderBy('version', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      version: Number(r.version),
      kind: r.kind,
      status: r.status,
      envelope: r.envelope,
      createdAt: Number(r.created_at),
    }));
  }

  async #insertPending(version: number): Promise<CredentialRow> {
    const id = newId('cred');
    const ref = { credentialId: id, targetId: this.target.id, version };
    let sealed: Envelope;
    try {
      sealed = await sealCredential(this.deps.kms, this.#next, ref);
    } catch (err) {
      throw this.#fail('store-failed', describe(err), { step: 'seal' });
    }
    const createdAt = this.#clock();
    const envelope = serializeEnvelope(sealed);
    try {
      await this.deps.db
        .insertInto('credentials')
        .values({
          id,
          target_id: this.target.id,
          version,
          kind: 'password',
          envelope,
          kms: sealed.kms,
          kms_key_id: sealed.keyId,
          fingerprint: null,
          status: 'pending',
          created_at: createdAt,
          created_by: this.actor,
        })
        .execute();
    } catch (err) {
      // (target_id, version) is unique: a concurrent rotation or `credential set` took it.
      const isTaken = (await this.#rows()).some((r) => r.version === version);
      throw isTaken
        ? this.#fail('busy', `version ${version} was taken meanwhile`, { step: 'store' })
        : this.#fail('store-failed', describe(err), { step: 'store' });
    }
    return { id, version, kind: 'password', status: 'pending', envelope, createdAt };
  }

  /** Logs in with the active password; when it is refused, with stale pending ones, newest first. */
  async #connect(active: CredentialRow, stale: readonly CredentialRow[]): Promise<Basis> {
    let refused: unknown;
    for (const row of [active, ...stale]) {
      const password = await this.#decrypt(row);
      try {
        return { row, password, session: await this.applier.connect(this.target, password) };
      } catch (err) {
        if (!isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED')) {
          await this.#retirePending();
          throw this.#failFrom(err, 'connect-failed', { step: 'connect' });
        }
        refused ??= err;
      }
    }
    await this.#retirePending();
    throw this.#failFrom(refused, 'auth-failed', { step: 'connect' });
  }

  async #decrypt(row: CredentialRow): Promise<Buffer> {
    try {
      const ref = { credentialId: row.id, targetId: this.target.id, version: row.version };
      const plaintext = await openCredential(this.deps.kms, row.envelope, ref);
      this.#secrets.push(plaintext);
      return plaintext;
    } catch (err) {
      await this.#retirePending();
      throw this.#fail(
        'store-failed',
        `version ${row.version} does not decrypt: ${describe(err)}`,
        { step: 'decrypt' },
      );
    }
  }

  /** Sets the basis password back over the still-open session; false when that fails. */
  async #revert(basis: Basis): Promise<boolean> {
    try {
      await basis.session.setPassword(basis.password);
    } catch {
      // The target may hold the new password: the pending row stays for the next rotation.
      return false;
    }
    await this.#retirePending();
    return true;
  }

  async #retirePending(): Promise<void> {
    if (this.#pending === undefined) return;
    await this.deps.db
      .updateTable('credentials')
      .set({ status: 'retired' })
      .where('id', '=', this.#pending.id)
      .where('status', '=', 'pending')
      .execute()
      .catch(() => undefined); // left pending, it turns stale and the next rotation retires it
  }

  /**
   * pending -> active; basis -> previous; the old active -> retired when a recovered pending
   * version replaced it; other stale pending rows and unleased older `previous` rows ->
   * retired. Returns what changed, so that it can be undone.
   */
  #flip(
    active: CredentialRow,
    basis: CredentialRow,
    stale: readonly CredentialRow[],
  ): Promise<StatusChange[]> {
    const pending = this.#pending;
    if (pending === undefined) throw new Error('no pending version');
    return this.deps.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('credentials')
        .select(['id', 'status'])
        .where('target_id', '=', this.target.id)
        .execute();
      const statusOf = new Map(rows.map((r) => [r.id, r.status]));
      if (statusOf.get(active.id) !== 'active' || statusOf.get(pending.id) !== 'pending') {
        throw new Error('the credential was changed during the rotation');
      }
      const leased = new Set(
        (
          await trx
            .selectFrom('leases')
            .select('credential_id')
            .where(
              'credential_id',
              'in',
              rows.map((r) => r.id),
            )
            .where('released_at', 'is', null)
            .execute()
        ).map((l) => l.credential_id),
      );
      const next = new Map<string, string>([
        [pending.id, 'active'],
        [basis.id, 'previous'],
      ]);
      if (basis.id !== active.id) next.set(active.id, 'retired');
      for (const row of stale) if (!next.has(row.id)) next.set(row.id, 'retired');
      for (const row of rows) {
        if (row.status === 'previous' && !next.has(row.id) && !leased.has(row.id))
          next.set(row.id, 'retired');
      }
      const changes: StatusChange[] = [];
      for (const [id, status] of next) {
        const from = statusOf.get(id);
        if (from === undefined || from === status) continue;
        await trx.updateTable('credentials').set({ status }).where('id', '=', id).execute();
        changes.push({ id, from });
      }
      return changes;
    });
  }

  /** Undoes {@link #flip}; the new version ends `retired`, not pending. */
  async #undoFlip(changes: readonly StatusChange[]): Promise<void> {
    const pendingId = this.#pending?.id;
    await this.deps.db.transaction().execute(async (trx) => {
      for (const change of changes) {
        const status = change.id === pendingId ? 'retired' : change.from;
        await trx.updateTable('credentials').set({ status }).where('id', '=', change.id).execute();
      }
    });
  }

  /** When the event cannot be written, the target and the store are set back (fail closed). */
  async #auditSuccess(
    result: RotationResult,
    basis: Basis,
    changes: readonly StatusChange[],
  ): Promise<void> {
    try {
      await this.deps.audit.append({
        type: 'admin.credential.rotate',
        target: this.target.name,
        data: {
          by: this.actor,
          credentialId: result.credentialId,
          version: result.version,
          previousVersion: result.previousVersion,
          recovered: result.isRecovered,
        },
      });
    } catch (err) {
      let isUndone = false;
      try {
        await basis.session.setPassword(basis.password);
        await this.#undoFlip(changes);
        isUndone = true;
      } catch {
        // The target keeps the new password and the store says so: consistent, only unaudited.
      }
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', {
        detail: `admin.credential.rotate (rotation ${isUndone ? 'undone' : 'kept'})`,
        cause: err,
      });
    }
  }

  #fail(reason: RotationFailureReason, detail: string, extra: FailureExtra): RotationFailure {
    // After a failed revert the target may already hold the new password.
    const spec =
      extra.isReverted === false
        ? {
            message:
              'credential rotation failed: the target may hold a password that is not active yet',
            hint: 'the new version is kept as pending; the next rotation finds and promotes it',
          }
        : FAILURES[reason];
    const code = reason === 'no-credential' ? 'GH_NO_CREDENTIAL' : 'GH_ROTATION_FAILED';
    const error = new GatehouseError(code, {
      message: spec.message,
      ...(spec.hint === undefined ? {} : { hint: spec.hint }),
      detail: `${extra.step}: ${this.#redact(detail)}`,
    });
    return new RotationFailure(reason, error, extra);
  }

  /** Maps an applier error: an unreachable target, or a refused login before the change, keep their own reason. */
  #failFrom(err: unknown, fallback: RotationFailureReason, extra: FailureExtra): RotationFailure {
    let reason = fallback;
    if (isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')) reason = 'unreachable';
    else if (isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED') && extra.step === 'connect')
      reason = 'auth-failed';
    return this.#fail(reason, describe(err), extra);
  }

  /** Removes any plaintext this rotation holds from a text bound for logs or the audit. */
  #redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      const value = secret.toString('utf8');
      if (value.length >= 4) out = out.split(value).join('[redacted]');
    }
    return out;
  }
}

/** The version a rotation starts from: its row, its password and the session it opened. */
interface Basis {
  readonly row: CredentialRow;
  readonly password: Buffer;
  readonly session: PasswordSession;
}

/** Facts a failure adds to `admin.credential.rotate_failed`. */
interface FailureExtra {
  readonly step: 'check' | 'seal' | 'store' | 'connect' | 'decrypt' | 'change' | 'verify';
  /** Set once the target's password was changed: whether the old one was set back. */
  readonly isReverted?: boolean;
}

interface StatusChange {
  readonly id: string;
  readonly from: string;
}

function describe(err: unknown): string {
  if (err instanceof GatehouseError)
    return err.detail === undefined ? err.message : `${err.message}: ${err.detail}`;
  return err instanceof Error ? err.message : String(err);
}
