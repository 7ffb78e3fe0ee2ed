import type { Kysely } from 'kysely';
import type { AuditEventsTable, Database } from '../store/schema.js';
import { GENESIS_HASH } from '../store/migrations.js';
import { hashAuditEvent } from './hash.js';
import { describeMissing, MAX_REPORTED_PROBLEMS, type ProblemList } from './problems.js';

/** Rows read per query while walking the chain. */
export const VERIFY_PAGE_ROWS = 1_000;
// How far from its seq a moved row is looked for, to call a swap a swap.
const MOVED_ROW_SEARCH = 8;

/** What the walk over the events learned. */
export interface ChainWalk {
  readonly eventCount: number;
  /** Seq of the last event read (0 when none). */
  readonly lastSeq: number;
  /** Stored hash of that event (the genesis hash when none). */
  readonly lastHash: string;
}

/**
 * Reads events `1..upToSeq` in seq order, a page at a time, recomputing every hash and
 * checking every link. Each row is checked on its own (its hash covers its columns and its
 * `prev_hash`) and against its predecessor (its `prev_hash` is the stored hash before it),
 * so the first bad event is named whether one column was edited, a hash was recomputed, a
 * row was deleted or rows were swapped.
 */
export async function walkChain(
  db: Kysely<Database>,
  upToSeq: number,
  problems: ProblemList,
): Promise<ChainWalk> {
  const blamed = new Set<number>();
  const blame = (kind: 'hash-mismatch' | 'order', seq: number, message: string): void => {
    if (blamed.has(seq)) return;
    blamed.add(seq);
    problems.add(kind, seq, message);
  };
  let eventCount = 0;
  let lastSeq = 0;
  let lastHash = GENESIS_HASH;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', lastSeq)
      .where('seq', '<=', upToSeq)
      .orderBy('seq')
      .limit(VERIFY_PAGE_ROWS)
      .execute();
    for (const row of rows) {
      const follows = row.seq === lastSeq + 1;
      if (!follows) problems.add('gap', lastSeq + 1, describeMissing(lastSeq + 1, row.seq - 1));
      if (hashAuditEvent(row) !== row.hash) {
        // Searching costs 16 hashes; stop once the report is full (a wholesale rewrite).
        const writtenAs = blamed.size < MAX_REPORTED_PROBLEMS ? findOriginalSeq(row) : undefined;
        if (writtenAs === undefined) {
          blame(
            'hash-mismatch',
            row.seq,
            `event ${row.seq} was altered: its hash does not match its content`,
          );
        } else {
          blame(
            'order',
            row.seq,
            `event ${row.seq} holds the event written as ${writtenAs}: rows were reordered`,
          );
        }
      } else if (follows && row.prev_hash !== lastHash) {
        // The row is intact by itself, so its predecessor is the one that changed.
        const suspect = row.seq > 1 ? row.seq - 1 : row.seq;
        blame(
          'hash-mismatch',
          suspect,
          row.seq > 1
            ? `event ${suspect} was altered and its hash recomputed: event ${row.seq} chains from a different event ${suspect}`
            : 'event 1 does not chain from the genesis hash',
        );
      }
      eventCount += 1;
      lastSeq = row.seq;
      lastHash = row.hash;
    }
    if (rows.length < VERIFY_PAGE_ROWS) return { eventCount, lastSeq, lastHash };
  }
}

function findOriginalSeq(row: AuditEventsTable): number | undefined {
  for (let delta = 1; delta <= MOVED_ROW_SEARCH; delta += 1) {
    for (const seq of [row.seq - delta, row.seq + delta]) {
      if (seq >= 1 && hashAuditEvent({ ...row, seq }) === row.hash) return seq;
    }
  }
  return undefined;
}
