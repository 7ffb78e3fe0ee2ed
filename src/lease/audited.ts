import type { AuditAppendOptions, AuditEventInput, AuditWriter } from '../audit/types.js';
import { GatehouseError } from '../core/errors.js';

/**
 * Appends an audit event, or throws GH_AUDIT_WRITE_FAILED (naming the event type): the
 * action it describes must then not happen. With `options.trx` the event commits, or rolls
 * back, with the caller's change.
 */
export async function appendOrFail(
  audit: AuditWriter,
  event: AuditEventInput,
  options: AuditAppendOptions = {},
): Promise<void> {
  try {
    await audit.append(event, options);
  } catch (err) {
    throw new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: event.type, cause: err });
  }
}
