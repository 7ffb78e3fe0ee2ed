import { isGatehouseError, type GatehouseError } from '../../core/errors.js';

/**
 * Resolves with the error when `attempt` failed with GH_AUTH_FAILED "permission denied" (the one
 * answer every failed login gives); rejects otherwise, so a test cannot pass by accident.
 */
export async function denied(attempt: Promise<unknown>): Promise<GatehouseError> {
  const outcome = await attempt.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isGatehouseError(outcome, 'GH_AUTH_FAILED') || outcome.message !== 'permission denied') {
    throw new Error(`expected GH_AUTH_FAILED "permission denied", got ${String(outcome)}`);
  }
  return outcome;
}
