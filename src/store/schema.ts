/**
 * Table types shared by the SQLite and PostgreSQL dialects. Times are integers in ms since
 * the epoch (BIGINT on PostgreSQL, parsed back to numbers); JSON is stored as TEXT; booleans
 * are 0/1 integers, so one repository code path serves both dialects.
 */
export interface Database {
  users: UsersTable;
  user_roles: UserRolesTable;
  roles: RolesTable;
  ssh_keys: SshKeysTable;
  tokens: TokensTable;
  targets: TargetsTable;
  grants: GrantsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  credentials: CredentialsTable;
  gateways: GatewaysTable;
  enroll_tokens: EnrollTokensTable;
  leases: LeasesTable;
  used_proofs: UsedProofsTable;
  sessions: SessionsTable;
  kv: KvTable;
}

export interface UsersTable {
  id: string;
  name: string;
  password_hash: string | null;
  /** SCRAM-SHA-256 verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`. */
  scram_verifier: string | null;
  /** TOTP secret sealed as a JSON envelope (never stored in clear). */
  totp_secret: string | null;
  totp_enabled: number;
  disabled: number;
  failed_count: number;
  locked_until: number;
  last_failure_at: number;
  created_at: number;
}

export interface UserRolesTable {
  user_id: string;
  role: string;
}

export interface RolesTable {
  name: string;
  description: string;
  is_builtin: number;
  created_at: number;
}

export interface SshKeysTable {
  id: string;
  user_id: string;
  algo: string;
  /** OpenSSH public key line: `algo base64 [comment]`. */
  public_key: string;
  /** `SHA256:` + unpadded base64 of the key blob digest. */
  fingerprint: string;
  comment: string;
  created_at: number;
}

export interface TokensTable {
  id: string;
  user_id: string;
  /** SHA-256 (hex) of the token secret. */
  token_hash: string;
  expires_at: number;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface TargetsTable {
  id: string;
  name: string;
  kind: string;
  host: string;
  port: number;
  username: string;
  database_name: string | null;
  labels: string;
  options: string;
  host_key: string | null;
  created_at: number;
}

export interface GrantsTable {
  id: string;
  subject_kind: string;
  subject: string;
  scope_kind: string;
  /** Target name, or `key=value` for a label scope. */
  scope: string;
  expires_at: number | null;
  reason: string | null;
  created_by: string;
  created_at: number;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface AuditEventsTable {
  seq: number;
  time: number;
  type: string;
  user_name: string | null;
  sid: string | null;
  target: string | null;
  gateway: string | null;
  client_addr: string | null;
  /** Canonical JSON of the type-specific fields. */
  data: string;
  prev_hash: string;
  hash: string;
}

/** One row (id = 1): the chain head, locked by every append to serialize writers. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  time: number;
  key_id: string;
  signature: string;
}

export interface CredentialsTable {
  id: string;
  target_id: string;
  version: number;
  /** `password` or `ssh-key`. */
  kind: string;
  /** JSON envelope (DESIGN.md §4). */
  envelope: string;
  kms: string;
  kms_key_id: string;
  /** SHA256 fingerprint of the public key (ssh-key) or null. */
  fingerprint: string | null;
  /** `active`, `previous` (usable by open sessions) or `retired`. */
  status: string;
  created_at: number;
  created_by: string;
}

export interface GatewaysTable {
  id: string;
  name: string;
  /** Ed25519 public key, SPKI DER base64. */
  sign_public_key: string;
  /** X25519 public key, SPKI DER base64. */
  seal_public_key: string;
  status: string;
  enrolled_at: number;
  revoked_at: number | null;
}

export interface EnrollTokensTable {
  token_hash: string;
  name: string;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

export interface LeasesTable {
  id: string;
  credential_id: string;
  credential_version: number;
  sid: string;
  user_name: string;
  gateway_id: string;
  issued_at: number;
  released_at: number | null;
}

export interface UsedProofsTable {
  proof_id: string;
  expires_at: number;
}

export interface SessionsTable {
  sid: string;
  user_name: string;
  target: string;
  kind: string;
  gateway_id: string;
  client_addr: string | null;
  started_at: number;
  ended_at: number | null;
  /** `active`, `ended`, `failed`, `terminated`, `abandoned`. */
  status: string;
  recording: string | null;
  recording_sha256: string | null;
  meta: string;
}

/** Small named values (schema facts, control-plane settings). */
export interface KvTable {
  key: string;
  value: string;
}
