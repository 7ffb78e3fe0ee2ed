import type { Kysely } from 'kysely';
import { canonicalJson } from '../core/canonical-json.js';
import { GatehouseError } from '../core/errors.js';
import type { Database } from '../store/schema.js';
import { recordFromRow } from './rows.js';
import type { AuditRecord } from './types.js';

/** Options of {@link tailAudit}. */
export interface TailAuditOptions {
  /** How many of the newest events to return. */
  readonly limit: number;
}

/** The newest `limit` events, oldest first. */
export async function tailAudit(
  db: Kysely<Database>,
  options: TailAuditOptions,
): Promise<AuditRecord[]> {
  const { limit } = options;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'the audit tail limit must be a whole number',
    });
  }
  if (limit === 0) return [];
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map(recordFromRow);
}

/**
 * One line for a human: `2026-11-29T20:00:00.000Z #12 grant.create user=alice target=web-1 {…}`.
 * Values with spaces, `=` or control characters are quoted as JSON strings, so a user name
 * chosen by a client cannot forge a second line or a field.
 */
export function formatAuditRecord(record: AuditRecord): string {
  const fields: Array<[string, string | null]> = [
    ['user', record.user],
    ['sid', record.sid],
    ['target', record.target],
    ['gateway', record.gateway],
    ['client', record.clientAddr],
  ];
  const parts = [formatTime(record.time), `#${record.seq}`, quoteIfNeeded(record.type)];
  for (const [name, value] of fields) {
    if (value !== null) parts.push(`${name}=${quoteIfNeeded(value)}`);
  }
  if (Object.keys(record.data).length > 0) parts.push(canonicalJson(record.data));
  return parts.join(' ');
}

function formatTime(time: number): string {
  const date = new Date(time);
  // A tampered row may hold a time no Date can show; print it rather than throw.
  return Number.isNaN(date.getTime()) ? `time=${time}` : date.toISOString();
}

function quoteIfNeeded(value: string): string {
  return value === '' || /[\s="\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)
    ? JSON.stringify(value)
    : value;
}
