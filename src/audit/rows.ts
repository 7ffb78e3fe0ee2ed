import { GatehouseError } from '../core/errors.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { AuditEventType, AuditRecord } from './types.js';

/** Converts a stored `audit_events` row into an {@link AuditRecord}. */
export function recordFromRow(row: AuditEventsTable): AuditRecord {
  return {
    seq: row.seq,
    time: row.time,
    // Types were checked on append; a row edited since is what `verifyAuditChain` reports.
    type: row.type as AuditEventType,
    user: row.user_name,
    sid: row.sid,
    target: row.target,
    gateway: row.gateway,
    clientAddr: row.client_addr,
    data: parseData(row),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function parseData(row: AuditEventsTable): Readonly<Record<string, unknown>> {
  try {
    const data: unknown = JSON.parse(row.data);
    if (data !== null && typeof data === 'object' && !Array.isArray(data))
      return data as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new GatehouseError('GH_AUDIT_CHAIN_BROKEN', {
    detail: `event ${row.seq}: data is not a JSON object`,
    hint: 'run "gatehouse audit verify"',
  });
}
