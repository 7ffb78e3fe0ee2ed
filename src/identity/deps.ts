import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import type { Clock } from '../core/clock.js';
import type { Database } from '../store/schema.js';

/** Seals a secret (e.g. a TOTP seed) for storage; `context` binds it to its use (AEAD data). */
export type SealSecret = (plaintext: Buffer, context: string) => Promise<string>;

/** Opens what {@link SealSecret} sealed with the same `context`; rejects otherwise. */
export type OpenSecret = (sealed: string, context: string) => Promise<Buffer>;

/** Lockout policy for failed logins (config `auth.lockout`). */
export interface LockoutPolicy {
  /** Consecutive failures that start a lock. */
  readonly threshold: number;
  /** Length of the first lock, in seconds; each further failure doubles it. */
  readonly baseDelayS: number;
  /** Longest lock, in seconds. */
  readonly maxDelayS: number;
}

/** What the identity services need: the store, the audit chain, time, lockout and sealing. */
export interface IdentityDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly clock?: Clock;
  readonly lockout: LockoutPolicy;
  readonly sealSecret: SealSecret;
  readonly openSecret: OpenSecret;
}

/** Who performs an administrative change; recorded as `data.by` in its audit event. */
export interface ActorOptions {
  readonly actor: string;
}
