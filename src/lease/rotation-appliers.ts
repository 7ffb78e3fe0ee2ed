import { GatehouseError } from '../core/errors.js';
import type { Target } from '../core/types.js';

// How credential rotation (rotation.ts) talks to one kind of database; the PostgreSQL and
// MySQL appliers are rotate-postgres.ts and rotate-mysql.ts.

/** Target kinds whose leased password can be rotated. */
export type RotatableKind = 'postgres' | 'mysql';

/** Connect and statement timeout of every connection rotation makes. */
export const ROTATION_TIMEOUT_MS = 10_000;

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

/**
 * The error for a rotation statement that failed: GH_ROTATION_FAILED with the server's
 * SQLSTATE and message, or GH_UPSTREAM_UNREACHABLE when no SQLSTATE came (a network error or
 * a timeout). Never the statement, which holds the new password or its hash.
 */
export function rotationStatementError(sqlState: string | undefined, err: unknown): GatehouseError {
  const message = err instanceof Error ? err.message : String(err);
  if (sqlState === undefined)
    return new GatehouseError('GH_UPSTREAM_UNREACHABLE', { detail: `connection lost: ${message}` });
  return new GatehouseError('GH_ROTATION_FAILED', { detail: `SQLSTATE ${sqlState}: ${message}` });
}
