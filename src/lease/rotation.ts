import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Target } from '../core/types.js';
import type { Database } from '../store/schema.js';
import { openCredential, sealCredential, serializeEnvelope, type Envelope } from './envelope.js';
import type { KmsProvider } from './kms.js';
import type { PasswordApplier, PasswordAppliers, PasswordSession } from './rotation-appliers.js';
import {
  describeRotationError as describe,
  failureReasonOf,
  RotationFailure,
  rotationFailure,
  type RotationFailureExtra as FailureExtra,
  type RotationFailureReason,
} from './rotation-failure.js';
import { generateRotationPassword } from './rotation-password.js';
import {
  flipToNewVersion,
  insertPendingVersion,
  listCredentialVersions,
  retirePendingVersion,
  undoFlip,
  type CredentialRow,
  type StatusChange,
} from './rotation-versions.js';

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
//
// The parts: rotation-appliers.ts (how a database's password is changed), rotation-versions.ts
// (the credential rows in the store), rotation-failure.ts (reasons and errors),
// rotation-password.ts (the new password).
// -------------------------------------------------------------------------------------------

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

/** A pending version younger than this belongs to a rotation still running. */
export const STALE_PENDING_MS = 5 * 60_000;

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

  #rows(): Promise<CredentialRow[]> {
    return listCredentialVersions(this.deps.db, this.target.id);
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
      return await insertPendingVersion(this.deps.db, {
        id,
        targetId: this.target.id,
        version,
        sealed,
        envelope,
        createdAt,
        createdBy: this.actor,
      });
    } catch (err) {
      // (target_id, version) is unique: a concurrent rotation or `credential set` took it.
      const isTaken = (await this.#rows()).some((r) => r.version === version);
      throw isTaken
        ? this.#fail('busy', `version ${version} was taken meanwhile`, { step: 'store' })
        : this.#fail('store-failed', describe(err), { step: 'store' });
    }
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
    if (this.#pending !== undefined) await retirePendingVersion(this.deps.db, this.#pending.id);
  }

  /** Moves the statuses to the new version (see {@link flipToNewVersion}). */
  #flip(
    active: CredentialRow,
    basis: CredentialRow,
    stale: readonly CredentialRow[],
  ): Promise<StatusChange[]> {
    const pending = this.#pending;
    if (pending === undefined) throw new Error('no pending version');
    return flipToNewVersion(this.deps.db, {
      targetId: this.target.id,
      active,
      basis,
      pending,
      stale,
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
        await undoFlip(this.deps.db, changes, this.#pending?.id);
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
    return rotationFailure(reason, this.#redact(detail), extra);
  }

  /** Fails with the reason of an applier's error (see {@link failureReasonOf}). */
  #failFrom(err: unknown, fallback: RotationFailureReason, extra: FailureExtra): RotationFailure {
    return this.#fail(failureReasonOf(err, fallback, extra.step), describe(err), extra);
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
