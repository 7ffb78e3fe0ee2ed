import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Envelope } from './envelope.js';

// The credential versions of one target as rotation reads and moves them in the store:
// `pending` (being rotated to), `active`, `previous` (still leased), `retired`.

/** One credential version of a target. */
export interface CredentialRow {
  readonly id: string;
  readonly version: number;
  readonly kind: string;
  readonly status: string;
  readonly envelope: string;
  readonly createdAt: number;
}

/** A status the flip changed: the row and the status it had. */
export interface StatusChange {
  readonly id: string;
  readonly from: string;
}

/** A new password version to store as `pending`. */
export interface PendingVersion {
  readonly id: string;
  readonly targetId: string;
  readonly version: number;
  readonly sealed: Envelope;
  /** `sealed`, serialized as stored. */
  readonly envelope: string;
  readonly createdAt: number;
  readonly createdBy: string;
}

/** The rotation's versions: the new one and those the flip moves. */
export interface FlipVersions {
  readonly targetId: string;
  /** Active when the rotation started. */
  readonly active: CredentialRow;
  /** The version whose password was replaced (the active one, or a recovered pending one). */
  readonly basis: CredentialRow;
  /** The new version, `pending` until the flip. */
  readonly pending: CredentialRow;
  /** Pending versions left by interrupted rotations. */
  readonly stale: readonly CredentialRow[];
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

/** Every version of the target, newest first, read in one statement. */
export async function listCredentialVersions(
  db: Kysely<Database>,
  targetId: string,
): Promise<CredentialRow[]> {
  // One statement: its snapshot decides both "busy" and the next version number.
  const rows = await db
    .selectFrom('credentials')
    .select(['id', 'version', 'kind', 'status', 'envelope', 'created_at'])
    .where('target_id', '=', targetId)
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

/** Inserts the new version as `pending`; throws when (target, version) is taken. */
export async function insertPendingVersion(
  db: Kysely<Database>,
  pending: PendingVersion,
): Promise<CredentialRow> {
  await db
    .insertInto('credentials')
    .values({
      id: pending.id,
      target_id: pending.targetId,
      version: pending.version,
      kind: 'password',
      envelope: pending.envelope,
      kms: pending.sealed.kms,
      kms_key_id: pending.sealed.keyId,
      fingerprint: null,
      status: 'pending',
      created_at: pending.createdAt,
      created_by: pending.createdBy,
    })
    .execute();
  return {
    id: pending.id,
    version: pending.version,
    kind: 'password',
    status: 'pending',
    envelope: pending.envelope,
    createdAt: pending.createdAt,
  };
}

/** Retires the version if it is still `pending`; best effort, it never throws. */
export async function retirePendingVersion(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable('credentials')
    .set({ status: 'retired' })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute()
    .catch(() => undefined); // left pending, it turns stale and the next rotation retires it
}

/**
 * In one transaction: pending -> active; basis -> previous; the old active -> retired when a
 * recovered pending version replaced it; other stale pending rows and unleased older
 * `previous` rows -> retired. Throws when the active or pending row changed meanwhile.
 * Returns what changed, so that {@link undoFlip} can set it back.
 */
export function flipToNewVersion(
  db: Kysely<Database>,
  versions: FlipVersions,
): Promise<StatusChange[]> {
  const { active, basis, pending, stale } = versions;
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('credentials')
      .select(['id', 'status'])
      .where('target_id', '=', versions.targetId)
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

/** Undoes {@link flipToNewVersion}; the new version (`pendingId`) ends `retired`, not pending. */
export async function undoFlip(
  db: Kysely<Database>,
  changes: readonly StatusChange[],
  pendingId: string | undefined,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const change of changes) {
      const status = change.id === pendingId ? 'retired' : change.from;
      await trx.updateTable('credentials').set({ status }).where('id', '=', change.id).execute();
    }
  });
}
