import type { Kysely, Transaction } from 'kysely';
import type { User } from '../core/types.js';
import type { Database } from '../store/schema.js';

/** Why an authentication failed; audited, never told to the client. */
export type AuthFailureReason =
  | 'unknown-user'
  | 'bad-password'
  | 'disabled'
  | 'locked'
  | 'bad-totp'
  | 'bad-token'
  | 'bad-signature';

/** Where an authentication attempt comes from, for the audit events it produces. */
export interface AuthContext {
  /** The client's address as the gateway saw it. */
  readonly clientAddr: string | null;
  /** How the proof was presented, e.g. `ssh-password`, `ssh-publickey`, `postgres-scram`, `web`. */
  readonly method: string;
  readonly sid?: string | null;
  readonly gateway?: string | null;
}

/** A failed check: the audited reason and a finer private detail. */
export interface CheckFailure {
  readonly ok: false;
  readonly reason: AuthFailureReason;
  /** Finer cause for the auditor, e.g. `expired`, `replayed-code`; never a secret. */
  readonly detail?: string;
}

/**
 * The outcome of checking one proof. A valid proof may carry a `commit` that consumes it
 * (single-use codes, session ids); it runs only once the user is known to be allowed to log
 * in, and can still turn the attempt into a failure (a replay).
 */
export type CheckResult =
  | {
      readonly ok: true;
      /** Facts for the `auth.success` event (fingerprint, token id). */
      readonly data: Readonly<Record<string, unknown>>;
      /**
       * Runs in the transaction that records the login (`auth.success`), on `db` (that
       * transaction): quick store work only, no hashing or network.
       */
      readonly commit?: (db: Kysely<Database>) => Promise<CheckFailure | undefined>;
    }
  | CheckFailure;

/**
 * Work that must commit with a successful login, in the same transaction as its
 * `auth.success` event (e.g. consuming a single-use proof): when it throws, neither happens
 * and its error reaches the caller as it is.
 */
export type LoginCommitHook = (trx: Transaction<Database>, user: User) => Promise<void>;

/** Options of the `verify*` calls of the Authenticator. */
export interface VerifyOptions {
  /** Runs inside the transaction of the login's `auth.success`, after every check passed. */
  readonly onSuccess?: LoginCommitHook;
}
