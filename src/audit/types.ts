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
  'scp.transfer',
  'db.query',
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

/**
 * Anything that appends to the audit chain. `append` resolves only once the event is durable;
 * when it rejects, the caller must not go on with the action it audits (fail closed).
 */
export interface AuditWriter {
  append(event: AuditEventInput): Promise<AuditRecord>;
}
