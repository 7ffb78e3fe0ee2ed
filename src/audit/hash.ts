import { hash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import type { AuditEventsTable } from '../store/schema.js';

/** The stored columns of an event that its hash covers (everything but `hash` itself). */
export type ChainedEventRow = Omit<AuditEventsTable, 'hash'>;

/** Lower-case hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  // One-shot: half the cost of a Hash object for the short texts of audit events.
  return hash('sha256', text, 'hex');
}

/**
 * The canonical form of an event that the chain hashes. `data` enters as the exact text of
 * its column (itself canonical JSON), so any edit of that column — even one that keeps the
 * same meaning — changes the hash.
 */
export function canonicalAuditEvent(row: ChainedEventRow): string {
  const { client_addr, data, gateway, seq, sid, target, time, type, user_name } = row;
  if (
    typeof data === 'string' &&
    typeof type === 'string' &&
    client_addr !== undefined &&
    gateway !== undefined &&
    sid !== undefined &&
    target !== undefined &&
    user_name !== undefined &&
    Number.isFinite(seq) &&
    Number.isFinite(time)
  ) {
    // The same text as canonicalJson below, written out in its (sorted) key order: it is
    // computed for every event appended, and sorting a fresh object each time showed in profiles.
    const j = JSON.stringify;
    return `{"client_addr":${j(client_addr)},"data":${j(data)},"gateway":${j(gateway)},"seq":${j(seq)},"sid":${j(sid)},"target":${j(target)},"time":${j(time)},"type":${j(type)},"user":${j(user_name)}}`;
  }
  return canonicalJson({
    seq: row.seq,
    time: row.time,
    type: row.type,
    user: row.user_name,
    sid: row.sid,
    target: row.target,
    gateway: row.gateway,
    client_addr: row.client_addr,
    data: row.data,
  });
}

/** DESIGN.md §5: `hash = SHA-256(prev_hash ‖ canonical(event))`, prev_hash as its 64 hex chars. */
export function hashAuditEvent(row: ChainedEventRow): string {
  return sha256Hex(row.prev_hash + canonicalAuditEvent(row));
}
