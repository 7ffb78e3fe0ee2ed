// What an attacker with write access to the store or the sink might do, for verify tests.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { hashAuditEvent } from '../../src/audit/index.js';
import { GENESIS_HASH, type AuditEventsTable, type Database } from '../../src/store/index.js';

/** Overwrites one column of one event row. */
export async function setEventColumn<K extends keyof AuditEventsTable>(
  db: Kysely<Database>,
  seq: number,
  column: K,
  value: AuditEventsTable[K],
): Promise<void> {
  const changes: Partial<AuditEventsTable> = {};
  changes[column] = value;
  await db.updateTable('audit_events').set(changes).where('seq', '=', seq).execute();
}

/** Recomputes `prev_hash`/`hash` of every event from `seq` on, and the head: a careful forger. */
export async function rehashFrom(db: Kysely<Database>, seq: number): Promise<void> {
  const before = await db
    .selectFrom('audit_events')
    .select('hash')
    .where('seq', '=', seq - 1)
    .executeTakeFirst();
  let prevHash = before?.hash ?? GENESIS_HASH;
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('seq', '>=', seq)
    .orderBy('seq')
    .execute();
  for (const row of rows) {
    const hash = hashAuditEvent({ ...row, prev_hash: prevHash });
    await db
      .updateTable('audit_events')
      .set({ prev_hash: prevHash, hash })
      .where('seq', '=', row.seq)
      .execute();
    await db.updateTable('audit_head').set({ seq: row.seq, hash }).where('id', '=', 1).execute();
    prevHash = hash;
  }
}

/** Swaps the seqs of two event rows (everything else stays). */
export async function swapEventSeqs(db: Kysely<Database>, a: number, b: number): Promise<void> {
  const parked = -a;
  await db.updateTable('audit_events').set({ seq: parked }).where('seq', '=', a).execute();
  await db.updateTable('audit_events').set({ seq: a }).where('seq', '=', b).execute();
  await db.updateTable('audit_events').set({ seq: b }).where('seq', '=', parked).execute();
}

/** Deletes event rows `first..last` and, when asked, rolls the head and checkpoints back too. */
export async function deleteEvents(
  db: Kysely<Database>,
  first: number,
  last: number,
  options: { readonly coverTracks?: boolean } = {},
): Promise<void> {
  await db.deleteFrom('audit_events').where('seq', '>=', first).where('seq', '<=', last).execute();
  if (options.coverTracks !== true) return;
  const newest = await db
    .selectFrom('audit_events')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  await db
    .updateTable('audit_head')
    .set({ seq: newest?.seq ?? 0, hash: newest?.hash ?? GENESIS_HASH })
    .where('id', '=', 1)
    .execute();
  await db.deleteFrom('audit_checkpoints').where('seq', '>=', first).execute();
}

/** The sink's lines (without the final newline). */
export function readSinkLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

/** Replaces the sink's content with these lines. */
export function writeSinkLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
}

/**
 * Writes a valid chain of `count` events straight into the store (far faster than `append`)
 * and moves the head to its end.
 */
export async function seedChain(db: Kysely<Database>, count: number): Promise<void> {
  let prevHash = GENESIS_HASH;
  const batchSize = 500;
  for (let start = 1; start <= count; start += batchSize) {
    const rows: AuditEventsTable[] = [];
    for (let seq = start; seq < start + batchSize && seq <= count; seq += 1) {
      const unhashed = {
        seq,
        time: 1_800_000_000_000 + seq,
        type: 'db.query',
        user_name: 'alice',
        sid: `s-${seq % 7}`,
        target: 'orders-db',
        gateway: 'gw-1',
        client_addr: null,
        data: JSON.stringify({ query: `select ${seq}` }),
        prev_hash: prevHash,
      };
      const row = { ...unhashed, hash: hashAuditEvent(unhashed) };
      rows.push(row);
      prevHash = row.hash;
    }
    await db.insertInto('audit_events').values(rows).execute();
  }
  await db
    .updateTable('audit_head')
    .set({ seq: count, hash: prevHash })
    .where('id', '=', 1)
    .execute();
}
