import type { Kysely, Selectable } from 'kysely';
import ssh2 from 'ssh2';
import type { AuditWriter } from '../audit/types.js';
import { generateOpenSshKeyPair } from '../crypto/ssh-key-pair.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { sshKeyFingerprint } from '../identity/ssh-keys.js';
import type { CredentialsTable, Database } from '../store/schema.js';
import { openCredential, rewrapEnvelope, sealCredential, serializeEnvelope } from './envelope.js';
import type { KmsName, KmsProvider } from './kms.js';

/** What a target credential is: a password, or an SSH private key. */
export type CredentialKind = 'password' | 'ssh-key';

/**
 * `active` is used by new sessions; `previous` only by sessions already leasing it; `pending`
 * is a rotation in progress (never unlocked); `retired` is used by none.
 */
export type CredentialStatus = 'active' | 'previous' | 'pending' | 'retired';

/**
 * A secret to store. The buffer is taken over: {@link Credentials.set} zeroes it once sealed
 * (also on failure), so the caller must not reuse it.
 */
export type CredentialSecret =
  | { readonly kind: 'password'; readonly password: Buffer }
  /** OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or PEM; unencrypted. */
  | { readonly kind: 'ssh-key'; readonly privateKey: Buffer };

/** Metadata of one stored credential version: never any secret material. */
export interface CredentialInfo {
  readonly id: string;
  readonly version: number;
  readonly kind: CredentialKind;
  readonly status: CredentialStatus;
  readonly kms: KmsName;
  readonly keyId: string;
  readonly createdAt: number;
  readonly createdBy: string;
  /** `SHA256:…` of the public key (ssh-key), else null. */
  readonly fingerprint: string | null;
}

/** A stored version as the lease service needs it to decrypt. */
export interface StoredCredential {
  readonly id: string;
  readonly targetId: string;
  readonly version: number;
  readonly kind: CredentialKind;
  readonly status: CredentialStatus;
  /** The envelope JSON (ciphertext only). */
  readonly envelope: string;
}

/** Dependencies of {@link Credentials}. */
export interface CredentialsDeps {
  readonly db: Kysely<Database>;
  readonly kms: KmsProvider;
  readonly audit: AuditWriter;
  readonly clock?: Clock;
}

/** Longest password accepted, in bytes. */
export const MAX_CREDENTIAL_PASSWORD_BYTES = 4096;
/** Largest private key file accepted, in bytes. */
export const MAX_PRIVATE_KEY_BYTES = 16_384;

const MAX_VERSION_ATTEMPTS = 3;

interface TargetRef {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
}

/**
 * The credential vault (DESIGN.md §4): target credentials stored only as KMS envelopes, one row
 * per version. Setting a new version keeps the last one usable by sessions that lease it.
 */
export class Credentials {
  readonly #db: Kysely<Database>;
  readonly #kms: KmsProvider;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;

  constructor(deps: CredentialsDeps) {
    this.#db = deps.db;
    this.#kms = deps.kms;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Stores a new active version of `targetName`'s credential; zeroes the secret buffer. */
  async set(
    targetName: string,
    secret: CredentialSecret,
    options: { readonly actor: string },
  ): Promise<CredentialInfo> {
    const plaintext = secret.kind === 'password' ? secret.password : secret.privateKey;
    try {
      const target = await this.#target(targetName);
      const fingerprint =
        secret.kind === 'password'
          ? checkPassword(secret.password)
          : checkPrivateKey(secret.privateKey);
      return await this.#storeVersion(target, secret.kind, plaintext, {
        fingerprint,
        actor: options.actor,
        generated: false,
      });
    } finally {
      plaintext.fill(0);
    }
  }

  /**
   * Generates an Ed25519 key pair for an SSH target, stores the private key as the new active
   * version, and returns only the OpenSSH public line (for the target's authorized_keys).
   */
  async generateSshKey(targetName: string, options: { readonly actor: string }): Promise<string> {
    const target = await this.#target(targetName);
    if (target.kind !== 'ssh') throw wrongKind(target, 'ssh-key');
    // ssh2 hands the private key over as a string, which cannot be wiped; the Buffer copy is.
    const pair = generateOpenSshKeyPair('ed25519', { comment: `gatehouse-${target.name}` });
    const privateKey = Buffer.from(pair.privateKey, 'utf8');
    try {
      const fingerprint = checkPrivateKey(privateKey);
      await this.#storeVersion(target, 'ssh-key', privateKey, {
        fingerprint,
        actor: options.actor,
        generated: true,
      });
    } finally {
      privateKey.fill(0);
    }
    return pair.publicKey.trim();
  }

  /** Every stored version of `targetName`'s credential, newest first: metadata only. */
  async show(targetName: string): Promise<CredentialInfo[]> {
    const target = await this.#target(targetName);
    const rows = await this.#db
      .selectFrom('credentials')
      .selectAll()
      .where('target_id', '=', target.id)
      .orderBy('version', 'desc')
      .execute();
    return rows.map(toInfo);
  }

  /**
   * Re-wraps every envelope's data key under the KMS's active key (`kms rotate`); returns how
   * many were re-wrapped. The caller audits `admin.kms.rotate`.
   */
  async rewrapAll(kms: KmsProvider = this.#kms): Promise<number> {
    const rows = await this.#db
      .selectFrom('credentials')
      .select(['id', 'envelope'])
      .orderBy('id')
      .execute();
    let count = 0;
    for (const row of rows) {
      const next = await rewrapEnvelope(kms, row.envelope);
      const result = await this.#db
        .updateTable('credentials')
        .set({ envelope: serializeEnvelope(next), kms: next.kms, kms_key_id: next.keyId })
        .where('id', '=', row.id)
        .where('envelope', '=', row.envelope) // a concurrent change wins; it is under the new key anyway
        .executeTakeFirst();
      if (result.numUpdatedRows > 0n) count++;
    }
    return count;
  }

  async #target(name: string): Promise<TargetRef> {
    const row = await this.#db
      .selectFrom('targets')
      .select(['id', 'name', 'kind'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (row === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `target "${name}" does not exist` });
    return row;
  }

  async #storeVersion(
    target: TargetRef,
    kind: CredentialKind,
    plaintext: Buffer,
    meta: {
      readonly fingerprint: string | null;
      readonly actor: string;
      readonly generated: boolean;
    },
  ): Promise<CredentialInfo> {
    if (kind === 'ssh-key' && target.kind !== 'ssh') throw wrongKind(target, kind);
    for (let attempt = 1; ; attempt++) {
      const version = (await this.#lastVersion(target.id)) + 1;
      const id = newId('cred');
      // Seal outside any transaction: a KMS round trip must not hold the store's writer.
      const envelope = await sealCredential(this.#kms, plaintext, {
        credentialId: id,
        targetId: target.id,
        version,
      });
      const row: CredentialsTable = {
        id,
        target_id: target.id,
        version,
        kind,
        envelope: serializeEnvelope(envelope),
        kms: envelope.kms,
        kms_key_id: envelope.keyId,
        fingerprint: meta.fingerprint,
        status: 'active',
        created_at: this.#clock(),
        created_by: meta.actor,
      };
      let changes: StatusChange[];
      try {
        changes = await this.#insertActive(row);
      } catch (err) {
        // Another `set` took this version number: seal again under the next one.
        if (attempt < MAX_VERSION_ATTEMPTS && (await this.#lastVersion(target.id)) >= version)
          continue;
        throw err;
      }
      try {
        await this.#audit.append({
          type: 'admin.credential.set',
          target: target.name,
          data: {
            by: meta.actor,
            credentialId: id,
            version,
            kind,
            generated: meta.generated,
            fingerprint: meta.fingerprint,
            kms: envelope.kms,
            keyId: envelope.keyId,
          },
        });
      } catch (err) {
        await this.#undoInsert(id, changes);
        throw new GatehouseError('GH_AUDIT_WRITE_FAILED', {
          detail: 'admin.credential.set',
          cause: err,
        });
      }
      return toInfo(row);
    }
  }

  async #lastVersion(targetId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('credentials')
      .select((eb) => eb.fn.max('version').as('last'))
      .where('target_id', '=', targetId)
      .executeTakeFirst();
    return row?.last === null || row?.last === undefined ? 0 : Number(row.last);
  }

  /** Inserts the new active row; the old active becomes `previous`, unleased older ones `retired`. */
  async #insertActive(row: CredentialsTable): Promise<StatusChange[]> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('credentials').values(row).execute();
      const older = await trx
        .selectFrom('credentials')
        .select(['id', 'status'])
        .where('target_id', '=', row.target_id)
        .where('id', '!=', row.id)
        .where('status', 'in', ['active', 'previous'])
        .execute();
      const leased = new Set(
        (
          await trx
            .selectFrom('leases')
            .select('credential_id')
            .where('credential_id', 'in', older.length === 0 ? [''] : older.map((o) => o.id))
            .where('released_at', 'is', null)
            .execute()
        ).map((l) => l.credential_id),
      );
      const changes: StatusChange[] = [];
      for (const old of older) {
        const next: CredentialStatus =
          old.status === 'active' || leased.has(old.id) ? 'previous' : 'retired';
        if (next === old.status) continue;
        await trx
          .updateTable('credentials')
          .set({ status: next })
          .where('id', '=', old.id)
          .execute();
        changes.push({ id: old.id, from: old.status });
      }
      return changes;
    });
  }

  async #undoInsert(id: string, changes: readonly StatusChange[]): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('credentials').where('id', '=', id).execute();
      for (const change of changes) {
        await trx
          .updateTable('credentials')
          .set({ status: change.from })
          .where('id', '=', change.id)
          .execute();
      }
    });
  }
}

interface StatusChange {
  readonly id: string;
  readonly from: string;
}

/**
 * The version an unlock should use: `version` when given (a session already leasing it; it
 * must not be retired), else the active one. Undefined when there is none.
 */
export async function findCredentialForUnlock(
  db: Kysely<Database>,
  targetId: string,
  version?: number,
): Promise<StoredCredential | undefined> {
  let query = db.selectFrom('credentials').selectAll().where('target_id', '=', targetId);
  query =
    version === undefined
      ? query.where('status', '=', 'active')
      : query.where('version', '=', version).where('status', 'in', ['active', 'previous']);
  const row = await query.orderBy('version', 'desc').executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        id: row.id,
        targetId: row.target_id,
        version: row.version,
        kind: parseKind(row.kind),
        status: parseStatus(row.status),
        envelope: row.envelope,
      };
}

/** KMS-decrypts a stored version, bound to its own row; the caller zeroes the result. */
export function decryptCredential(kms: KmsProvider, stored: StoredCredential): Promise<Buffer> {
  return openCredential(kms, stored.envelope, {
    credentialId: stored.id,
    targetId: stored.targetId,
    version: stored.version,
  });
}

function checkPassword(password: Buffer): null {
  if (password.length === 0 || password.length > MAX_CREDENTIAL_PASSWORD_BYTES) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `the password must be 1 to ${MAX_CREDENTIAL_PASSWORD_BYTES} bytes`,
    });
  }
  // Database protocols carry passwords as NUL-terminated strings.
  if (password.includes(0))
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'the password contains a NUL byte',
    });
  return null;
}

/** Validates an unencrypted SSH private key and returns its public key's fingerprint. */
function checkPrivateKey(privateKey: Buffer): string {
  if (privateKey.length === 0 || privateKey.length > MAX_PRIVATE_KEY_BYTES) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'the private key file is empty or too large',
    });
  }
  const parsed: unknown = ssh2.utils.parseKey(privateKey);
  if (
    parsed instanceof Error ||
    Array.isArray(parsed) ||
    parsed === null ||
    typeof parsed !== 'object'
  ) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'not a usable SSH private key',
      hint: 'give an unencrypted OpenSSH or PEM private key (ssh-keygen -p -N "" removes a passphrase)',
    });
  }
  const key = parsed as ssh2.ParsedKey;
  if (!key.isPrivateKey())
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'this is a public key, not a private key',
    });
  return sshKeyFingerprint(key.getPublicSSH());
}

function wrongKind(target: TargetRef, kind: CredentialKind): GatehouseError {
  return new GatehouseError('GH_INVALID_ARGUMENT', {
    message: `a ${target.kind} target cannot hold a credential of kind "${kind}"`,
  });
}

function parseKind(text: string): CredentialKind {
  if (text === 'password' || text === 'ssh-key') return text;
  throw new GatehouseError('GH_INTERNAL', { detail: `unknown credential kind ${text}` });
}

function parseStatus(text: string): CredentialStatus {
  return text === 'active' || text === 'previous' || text === 'pending' ? text : 'retired';
}

function toInfo(row: Selectable<CredentialsTable>): CredentialInfo {
  return {
    id: row.id,
    version: row.version,
    kind: parseKind(row.kind),
    status: parseStatus(row.status),
    kms: row.kms === 'aws' ? 'aws' : 'local',
    keyId: row.kms_key_id,
    createdAt: row.created_at,
    createdBy: row.created_by,
    fingerprint: row.fingerprint,
  };
}
