import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

/** The AEAD context a user's TOTP secret is sealed under: it opens only for that user. */
export function totpSealContext(userId: string): string {
  return `gatehouse-totp:${userId}`;
}

/** The `kv` key remembering the last accepted TOTP step of a user. */
export function totpLastStepKey(userId: string): string {
  return `totp_last_step:${userId}`;
}

// Steps are stored zero-padded to a fixed width so that text order is numeric order on both
// dialects, which lets one conditional upsert decide atomically.
const STEP_DIGITS = 16;

/**
 * Records `step` as the user's last accepted TOTP step, only if it is later than the one
 * recorded. False when it is not (the code, or an earlier one, was already used): a replay.
 */
export async function consumeTotpStep(
  db: Kysely<Database>,
  userId: string,
  step: number,
): Promise<boolean> {
  const value = String(step).padStart(STEP_DIGITS, '0');
  const result = await db
    .insertInto('kv')
    .values({ key: totpLastStepKey(userId), value })
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet({ value: (eb) => eb.ref('excluded.value') })
        .where('kv.value', '<', value),
    )
    .executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

/** Forgets the user's last accepted step (on re-enrolment with a new secret). */
export async function resetTotpSteps(db: Kysely<Database>, userId: string): Promise<void> {
  await db.deleteFrom('kv').where('key', '=', totpLastStepKey(userId)).execute();
}
