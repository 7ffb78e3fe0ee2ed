import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Database } from '../store/schema.js';
import { hashAuditEvent } from './hash.js';
import type { AuditRecord } from './types.js';
import type { ValidAuditEvent } from './validate.js';
import { recordFromRow } from './rows.js';

/**
 * Appends one validated event inside the transaction `trx`. The first statement increments
 * the single `audit_head` row, which locks it until `trx` ends: writers in every process
 * (SQLite file lock, PostgreSQL row lock) queue there, so seqs have no gaps and each event
 * chains from the one committed before it. A rolled-back transaction gives its seq back.
 */
export async function appendToChain(
  trx: Kysely<Database>,
  event: ValidAuditEvent,
  clock: Clock,
): Promise<AuditRecord> {
  const head = await trx
    .updateTable('audit_head')
    .set((eb) => ({ seq: eb('seq', '+', 1) }))
    .where('id', '=', 1)
    .returning(['seq', 'hash'])
    .executeTakeFirst();
  if (head === undefined) throw new Error('audit_head row is missing');
  // Read the clock once the head is ours, so times follow seq order on one host.
  const unhashed = { ...event, seq: head.seq, time: clock(), prev_hash: head.hash };
  const row = { ...unhashed, hash: hashAuditEvent(unhashed) };
  await trx.insertInto('audit_events').values(row).execute();
  await trx.updateTable('audit_head').set({ hash: row.hash }).where('id', '=', 1).execute();
  return recordFromRow(row);
}

/** Rows per INSERT statement of {@link appendManyToChain} (SQLite allows 32,766 variables; 11 per row). */
const ROWS_PER_INSERT = 500;

/**
 * Appends validated events, in order, inside the transaction `trx`, as {@link appendToChain}
 * would one by one, with three statements for the lot instead of three per event: the head
 * moves by `events.length` at once (taking its lock), the rows go in with multi-row INSERTs,
 * and the head's hash is set to the last one's.
 */
export async function appendManyToChain(
  trx: Kysely<Database>,
  events: readonly ValidAuditEvent[],
  clock: Clock,
): Promise<void> {
  if (events.length === 0) return;
  const head = await trx
    .updateTable('audit_head')
    .set((eb) => ({ seq: eb('seq', '+', events.length) }))
    .where('id', '=', 1)
    .returning(['seq', 'hash'])
    .executeTakeFirst();
  if (head === undefined) throw new Error('audit_head row is missing');
  const time = clock();
  let seq = head.seq - events.length;
  let prevHash = head.hash;
  const rows = events.map((event) => {
    seq += 1;
    const unhashed = { ...event, seq, time, prev_hash: prevHash };
    prevHash = hashAuditEvent(unhashed);
    return { ...unhashed, hash: prevHash };
  });
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    await trx
      .insertInto('audit_events')
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      .execute();
  }
  await trx.updateTable('audit_head').set({ hash: prevHash }).where('id', '=', 1).execute();
}
