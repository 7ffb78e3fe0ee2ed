import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { LockoutPolicy } from './deps.js';

// 2^30 × any sane base already exceeds every sane maximum; stops the power overflowing.
const MAX_DOUBLINGS = 30;

/**
 * Seconds a user is locked for after `failures` consecutive failures: none below the
 * threshold, then base·2^(failures − threshold), capped at the maximum.
 */
export function lockDurationS(policy: LockoutPolicy, failures: number): number {
  if (failures < policy.threshold) return 0;
  const doublings = Math.min(failures - policy.threshold, MAX_DOUBLINGS);
  return Math.min(policy.baseDelayS * 2 ** doublings, policy.maxDelayS);
}

/** What {@link recordFailure} did. */
export interface FailureRecord {
  readonly failures: number;
  /** Set when this failure started a lock (ms since the epoch). */
  readonly lockedUntil: number | null;
  readonly lockS: number;
}

/** Counts one more consecutive failure for `userId` and starts a lock when the policy says so. */
export async function recordFailure(
  db: Kysely<Database>,
  userId: string,
  options: { readonly now: number; readonly policy: LockoutPolicy },
): Promise<FailureRecord> {
  const row = await db
    .updateTable('users')
    .set((eb) => ({ failed_count: eb('failed_count', '+', 1), last_failure_at: options.now }))
    .where('id', '=', userId)
    .returning('failed_count')
    .executeTakeFirst();
  const failures = row?.failed_count ?? 0;
  const lockS = lockDurationS(options.policy, failures);
  if (lockS === 0) return { failures, lockedUntil: null, lockS };
  const lockedUntil = options.now + lockS * 1000;
  // Never shorten a lock another attempt has set meanwhile.
  await db
    .updateTable('users')
    .set((eb) => ({
      locked_until: eb
        .case()
        .when('locked_until', '<', lockedUntil)
        .then(lockedUntil)
        .else(eb.ref('locked_until'))
        .end(),
    }))
    .where('id', '=', userId)
    .execute();
  return { failures, lockedUntil, lockS };
}

/** Clears the failure count and any lock of `userId` (after a success). */
export async function resetFailures(db: Kysely<Database>, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ failed_count: 0, locked_until: 0 })
    .where('id', '=', userId)
    .execute();
}
