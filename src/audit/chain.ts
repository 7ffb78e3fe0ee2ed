import { CompiledQuery, type Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { AuditEventsTable, Database } from '../store/schema.js';
import type { ChainedEvents, UnchainedEvent } from '../store/sqlite-messages.js';
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

/** Most rows per INSERT statement of {@link appendManyToChain} (SQLite allows 32,766 variables; 11 per row). */
const MAX_ROWS_PER_INSERT = 256;
/** The columns of an event that its producer gives, in the order of {@link unchainedColumns}. */
export const UNCHAINED_COLUMNS = [
  'type',
  'user_name',
  'sid',
  'target',
  'gateway',
  'client_addr',
  'data',
] as const;
/** The stored columns of an event, in the order of the INSERT's values (the key order of SAMPLE_ROW). */
export const AUDIT_COLUMNS = ['seq', 'time', ...UNCHAINED_COLUMNS, 'prev_hash', 'hash'] as const;
const SAMPLE_ROW: AuditEventsTable = {
  seq: 0,
  time: 0,
  type: '',
  user_name: null,
  sid: null,
  target: null,
  gateway: null,
  client_addr: null,
  data: '',
  prev_hash: '',
  hash: '',
};

/**
 * Appends validated events, in order, inside the transaction `trx`, as {@link appendToChain}
 * would one by one, with a few statements for the lot instead of three per event: the head
 * moves by `events.length` at once (taking its lock), the rows go in with multi-row INSERTs,
 * and the head's hash is set to the last one's. Returns where they landed.
 */
export async function appendManyToChain(
  trx: Kysely<Database>,
  events: readonly ValidAuditEvent[],
  clock: Clock,
): Promise<ChainedEvents> {
  if (events.length === 0) throw new Error('no events to append');
  const head = await trx
    .updateTable('audit_head')
    .set((eb) => ({ seq: eb('seq', '+', events.length) }))
    .where('id', '=', 1)
    .returning(['seq', 'hash'])
    .executeTakeFirst();
  if (head === undefined) throw new Error('audit_head row is missing');
  const time = clock();
  const { params, chained } = chainRows(
    unchainedColumns(events),
    head.seq - events.length + 1,
    head.hash,
    time,
  );
  // The SQL is built from the dialect's own one-row INSERT, not by the query builder for every
  // row (that cost more than the rest of the append); chunk sizes are 256 and powers of two,
  // so the store sees a few statement texts again and again and keeps them prepared.
  const one = trx.insertInto('audit_events').values(SAMPLE_ROW).compile().sql;
  let done = 0;
  for (const rows of chunkSizes(events.length)) {
    const values = params.slice(done * AUDIT_COLUMNS.length, (done + rows) * AUDIT_COLUMNS.length);
    await trx.executeQuery(CompiledQuery.raw(insertSql(one, rows), values));
    done += rows;
  }
  await trx
    .updateTable('audit_head')
    .set({ hash: lastHash(chained) })
    .where('id', '=', 1)
    .execute();
  return chained;
}

/**
 * `events` as one flat array, {@link UNCHAINED_COLUMNS} of each in turn: what goes to the SQLite
 * thread (a structured clone of strings in an array costs half that of an object per event,
 * whose keys are written out every time) and what {@link chainRows} reads.
 */
export function unchainedColumns(events: readonly UnchainedEvent[]): (string | null)[] {
  const columns = new Array<string | null>(events.length * UNCHAINED_COLUMNS.length);
  let at = 0;
  for (const e of events) {
    columns[at++] = e.type;
    columns[at++] = e.user_name;
    columns[at++] = e.sid;
    columns[at++] = e.target;
    columns[at++] = e.gateway;
    columns[at++] = e.client_addr;
    columns[at++] = e.data;
  }
  return columns;
}

/**
 * The hashes of the events whose {@link unchainedColumns} are `columns`, chained from `prevHash`
 * as seqs `firstSeq`, … with time `time`, and their INSERT parameters (in the order of
 * {@link AUDIT_COLUMNS}, row after row).
 */
export function chainRows(
  columns: readonly (string | null)[],
  firstSeq: number,
  prevHash: string,
  time: number,
): { readonly params: unknown[]; readonly chained: ChainedEvents } {
  const width = UNCHAINED_COLUMNS.length;
  if (columns.length % width !== 0) throw new Error('columns of a partial event');
  const chained: ChainedEvents = { firstSeq, time, prevHash, hashes: [] };
  const params: unknown[] = [];
  let seq = firstSeq;
  let prev = prevHash;
  for (let at = 0; at < columns.length; at += width) {
    const type = columns[at];
    const data = columns[at + 6];
    if (typeof type !== 'string' || typeof data !== 'string')
      throw new Error(`event ${seq} has no type or data`);
    const user_name = columns[at + 1] ?? null;
    const sid = columns[at + 2] ?? null;
    const target = columns[at + 3] ?? null;
    const gateway = columns[at + 4] ?? null;
    const client_addr = columns[at + 5] ?? null;
    const hash = hashAuditEvent({
      type,
      user_name,
      sid,
      target,
      gateway,
      client_addr,
      data,
      seq,
      time,
      prev_hash: prev,
    });
    // In the order of AUDIT_COLUMNS.
    params.push(seq, time, type, user_name, sid, target, gateway, client_addr, data, prev, hash);
    chained.hashes.push(hash);
    prev = hash;
    seq += 1;
  }
  return { params, chained };
}

/** The hash of the last of `chained`. */
export function lastHash(chained: ChainedEvents): string {
  return chained.hashes.at(-1) ?? chained.prevHash;
}

/** The record of `event`, appended as the `index`-th of `chained`. */
export function chainedRecord(
  event: ValidAuditEvent,
  chained: ChainedEvents,
  index: number,
): AuditRecord {
  const hash = chained.hashes[index];
  const prevHash = index === 0 ? chained.prevHash : chained.hashes[index - 1];
  if (hash === undefined || prevHash === undefined)
    throw new Error(`event ${index} of the batch was not chained`);
  return recordFromRow({
    ...event,
    seq: chained.firstSeq + index,
    time: chained.time,
    prev_hash: prevHash,
    hash,
  });
}

/** 256 while more are left, then the binary digits of the rest: 300 → 256, 32, 8, 4. */
export function chunkSizes(total: number): number[] {
  const sizes: number[] = [];
  let left = total;
  while (left >= MAX_ROWS_PER_INSERT) {
    sizes.push(MAX_ROWS_PER_INSERT);
    left -= MAX_ROWS_PER_INSERT;
  }
  for (let size = MAX_ROWS_PER_INSERT / 2; size >= 1; size /= 2) {
    if (left >= size) {
      sizes.push(size);
      left -= size;
    }
  }
  return sizes;
}

// Per dialect (its one-row INSERT) and row count: a handful of texts in all.
const insertTexts = new Map<string, Map<number, string>>();

/** The INSERT of `rows` rows made from the one-row INSERT `one` (`?` or `$n` placeholders). */
export function insertSql(one: string, rows: number): string {
  let byRows = insertTexts.get(one);
  if (byRows === undefined) {
    if (insertTexts.size > 8) insertTexts.clear();
    byRows = new Map();
    insertTexts.set(one, byRows);
  }
  const cached = byRows.get(rows);
  if (cached !== undefined) return cached;
  const at = one.lastIndexOf(' values (');
  if (at < 0) throw new Error(`unexpected INSERT text: ${one}`);
  const isNumbered = one.includes('$1');
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    const marks = AUDIT_COLUMNS.map((_, c) =>
      isNumbered ? `$${r * AUDIT_COLUMNS.length + c + 1}` : '?',
    );
    tuples.push(`(${marks.join(', ')})`);
  }
  const text = `${one.slice(0, at)} values ${tuples.join(', ')}`;
  byRows.set(rows, text);
  return text;
}

export type { ChainedEvents };
