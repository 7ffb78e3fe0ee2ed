import { sleep } from '../bench/lib/processes.js';
import type { RunningGatehouse } from '../test/support/gatehouse.js';
import { lastAuditSeq, readGatehouseStore } from '../test/support/gatehouse-store.js';

/** Expected and found count of one event type. */
export interface EventCount {
  readonly expected: number;
  readonly found: number;
}

/**
 * Event types recorded on a best-effort basis, which may fall short of what the clients did
 * without anything being lost: `ssh.command` comes from the typed keys of a shell, and keys
 * whose echo takes longer than the echo window (250 ms) are masked as a password would be
 * (src/recording/echo-tracker.ts), so their line is not reported. On a loaded machine some
 * echoes are that slow. They may be fewer than expected, never more.
 */
export const BEST_EFFORT_EVENTS: ReadonlySet<string> = new Set(['ssh.command']);

/** What the audit chain holds for the load, against what the load did. */
export interface AuditCheck {
  /** Events of the load are those after this seq (the warm-up's are before). */
  readonly afterSeq: number;
  readonly lastSeq: number;
  /** Every event type expected or found. */
  readonly byType: Readonly<Record<string, EventCount>>;
  /** Sessions started whose `session.end` is missing, and the reverse. */
  readonly unendedSessions: number;
  readonly unstartedEnds: number;
  /** `session.end` events whose status is not `ended`. */
  readonly abnormalEnds: number;
  /** Database sessions whose `session.end` counts another number of statements than their `db.query` events. */
  readonly statementCountMismatches: number;
  /** Sessions the store still shows as active. */
  readonly activeSessions: number;
  /** Human-readable problems; empty when the chain holds exactly what the load did. */
  readonly problems: readonly string[];
}

/** Longest wait for the last sessions to end and fire-and-forget events to land. */
const QUIET_TIMEOUT_MS = 180_000;
/** The chain must not grow for this long to count as quiet. */
const QUIET_MS = 3_000;

/**
 * Waits until no session is active and the chain stopped growing: SFTP and typed-command events
 * are appended without the channel waiting for them, and `session.end` follows the client's
 * close. Rejects after a timeout (the check then reports what is missing).
 */
export async function waitForQuietAudit(gatehouse: RunningGatehouse): Promise<void> {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const seq = lastAuditSeq(gatehouse);
    const active = activeSessions(gatehouse);
    if (seq !== last) {
      last = seq;
      stableSince = Date.now();
    } else if (active === 0 && Date.now() - stableSince >= QUIET_MS) return;
    if (Date.now() > deadline) return;
    await sleep(500);
  }
}

/** Counts the load's events in the store by type and checks every session's start, end and counts. */
export function checkAudit(
  gatehouse: RunningGatehouse,
  afterSeq: number,
  expected: ReadonlyMap<string, number>,
): AuditCheck {
  return readGatehouseStore(gatehouse, (db) => {
    const found = new Map(
      (
        db
          .prepare('select type, count(*) as n from audit_events where seq > ? group by type')
          .all(afterSeq) as { type: string; n: number }[]
      ).map((r) => [r.type, r.n]),
    );
    const byType: Record<string, EventCount> = {};
    const problems: string[] = [];
    for (const type of [...new Set([...expected.keys(), ...found.keys()])].sort()) {
      const count = { expected: expected.get(type) ?? 0, found: found.get(type) ?? 0 };
      byType[type] = count;
      const isShortfallAllowed = BEST_EFFORT_EVENTS.has(type) && count.found <= count.expected;
      if (count.expected !== count.found && !isShortfallAllowed)
        problems.push(`${type}: expected ${count.expected}, found ${count.found}`);
    }
    // Grouped in one pass each (audit_events has no index on sid).
    const queries = new Map(
      (
        db
          .prepare(
            "select sid, count(*) as n from audit_events where seq > ? and type = 'db.query' group by sid",
          )
          .all(afterSeq) as { sid: string; n: number }[]
      ).map((r) => [r.sid, r.n]),
    );
    const bounds = db
      .prepare(
        "select sid, type, data from audit_events where seq > ? and type in ('session.start', 'session.end')",
      )
      .all(afterSeq) as { sid: string; type: string; data: string }[];
    const started = new Set(bounds.filter((r) => r.type === 'session.start').map((r) => r.sid));
    const ends = bounds
      .filter((r) => r.type === 'session.end')
      .map((r) => ({
        sid: r.sid,
        data: JSON.parse(r.data) as { status?: string; stats?: { statements?: number } },
      }));
    const ended = new Set(ends.map((e) => e.sid));
    const unendedSessions = [...started].filter((sid) => !ended.has(sid)).length;
    const unstartedEnds = [...ended].filter((sid) => !started.has(sid)).length;
    const abnormalEnds = ends.filter((e) => e.data.status !== 'ended').length;
    const statementCountMismatches = ends.filter(
      (e) =>
        e.data.stats?.statements !== undefined &&
        e.data.stats.statements !== (queries.get(e.sid) ?? 0),
    ).length;
    const active = (
      db.prepare("select count(*) as n from sessions where status = 'active'").get() as {
        n: number;
      }
    ).n;
    const lastSeq = (db.prepare('select max(seq) as n from audit_events').get() as { n: number }).n;
    if (unendedSessions > 0) problems.push(`${unendedSessions} sessions started and never ended`);
    if (unstartedEnds > 0) problems.push(`${unstartedEnds} sessions ended without a start`);
    if (abnormalEnds > 0)
      problems.push(`${abnormalEnds} sessions ended with a status other than ended`);
    if (statementCountMismatches > 0)
      problems.push(
        `${statementCountMismatches} database sessions count other statements than their db.query events`,
      );
    if (active > 0) problems.push(`${active} sessions still active in the store`);
    return {
      afterSeq,
      lastSeq,
      byType,
      unendedSessions,
      unstartedEnds,
      abnormalEnds,
      statementCountMismatches,
      activeSessions: active,
      problems,
    };
  });
}

function activeSessions(gatehouse: RunningGatehouse): number {
  return readGatehouseStore(
    gatehouse,
    (db) =>
      (
        db.prepare("select count(*) as n from sessions where status = 'active'").get() as {
          n: number;
        }
      ).n,
  );
}
