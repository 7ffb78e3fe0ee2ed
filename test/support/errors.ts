import { GatehouseError } from '../../src/core/errors.js';

/** Awaits `promise` and returns the {@link GatehouseError} it rejects with; throws otherwise. */
export async function gatehouseRejection(promise: Promise<unknown>): Promise<GatehouseError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GatehouseError))
    throw new Error(`expected a GatehouseError, got ${String(err)}`);
  return err;
}
