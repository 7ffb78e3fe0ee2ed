import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.js';

/** Audit event types (DESIGN.md §5). Add new ones here; the chain accepts only these. */
export const AUDIT_EVENT_TYPES = [
  'admin.init',
  'admin.user.add',
  'admin.user.passwd',
  'admin.user.disable',
  'admin.user.enable',
  'admin.user.key.add',
  'admin.user.key.remove',
  'admin.user.totp',
  'admin.user.role',
  'admin.role.add',
  'admin.token.create',
  'admin.token.revoke',
  'admin.target.add',
  'admin.target.remove',
  'admin.target.update',
  'admin.target.trust',
  'admin.credential.set',
  'admin.credential.rotate',
  'admin.credential.rotate_failed',
  'admin.kms.rotate',
  'admin.session.kill',
  'admin.gateway.enroll_token',
  'admin.gateway.enroll',
  'admin.gateway.revoke',
  'grant.create',
  'grant.revoke',
  'auth.success',
  'auth.failure',
  'auth.lockout',
  'access.denied',
  'credential.unlock',
  'credential.unlock_denied',
  'lease.release',
  'session.start',
  'session.end',
  'ssh.exec',
  'ssh.shell',
  'ssh.command',
  'ssh.subsystem',
  'ssh.port_forward',
  'ssh.request_denied',
  'ssh.host_key_mismatch',
  'sftp.open',
  'sftp.read',
  'sftp.write',
  'sftp.remove',
  'sftp.rename',
  'sftp.mkdir',
  'sftp.rmdir',
  'sftp.close',
  'sftp.setstat',
  'sftp.symlink',
  'sftp.hardlink',
  'sftp.copy',
  'sftp.desync',
  'sftp.anomaly',
  'ssh.channel_denied',
  'scp.transfer',
  'db.query',
  'db.denied',
  'db.cancel',
] as const;

/** One of {@link AUDIT_EVENT_TYPES}. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** What a caller hands to the audit log; `seq`, `time` and hashes are added by the chain. */
export interface AuditEventInput {
  readonly type: AuditEventType;
  /** The person (Gatehouse user name) the event is about or who acted. */
  readonly user?: string | null;
  readonly sid?: string | null;
  readonly target?: string | null;
  readonly gateway?: string | null;
  readonly clientAddr?: string | null;
  /** Type-specific fields. Never a password, key or token. */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** An event as stored in the chain. */
export interface AuditRecord {
  readonly seq: number;
  readonly time: number;
  readonly type: AuditEventType;
  readonly user: string | null;
  readonly sid: string | null;
  readonly target: string | null;
  readonly gateway: string | null;
  readonly clientAddr: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  readonly prevHash: string;
  readonly hash: string;
}

/** Options of {@link AuditWriter.append}. */
export interface AuditAppendOptions {
  /**
   * A transaction of the caller's to join, so that a change and its event commit (or roll
   * back) together: `db.transaction().execute(async (trx) => { …; await audit.append(ev, { trx }) })`.
   * The event is then durable only when the caller commits. Append last and commit soon:
   * from the append on, the transaction holds the chain head and every other audit writer
   * waits for it. On PostgreSQL keep the default READ COMMITTED level (a stricter one fails
   * on a concurrent append). On SQLite send every query inside it through `trx`: the store's
   * one connection belongs to the transaction, so a query on `db` would wait for ever.
   */
  readonly trx?: Transaction<Database>;
}

/**
 * Anything that appends to the audit chain. `append` resolves only once the event is durable
 * (or, with `trx`, written in the caller's transaction); when it rejects, the caller must not
 * go on with the action it audits (fail closed).
 */
export interface AuditWriter {
  append(event: AuditEventInput, options?: AuditAppendOptions): Promise<AuditRecord>;
  /**
   * Appends several events in order, committed together with other callers' batches (a
   * group commit); resolves once durable. Optional: writers without it get one `append`
   * per event inside one transaction.
   */
  appendBatch?(events: readonly AuditEventInput[]): Promise<void>;
}

/** A signed statement that the chain's event `seq` has hash `hash` (DESIGN.md §5). */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: number;
  /** Id of the control-plane key that signed (see `keyIdOf`). */
  readonly keyId: string;
  /** Base64 Ed25519 signature by the control-plane key over canonical JSON of `{seq, hash, time}`. */
  readonly signature: string;
}
