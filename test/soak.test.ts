import { describe, expect, it } from 'vitest';
import { BEST_EFFORT_EVENTS } from '../soak/audit-check.js';
import { summarizeSoak } from '../soak/report.js';
import { runSoak } from '../soak/soak.js';

// The short version of `npm run soak` (issue #8, load): 20 SSH sessions and 50 database
// connections through one `gatehouse serve`, working for 15 s. It asserts what does not depend
// on the machine's speed: every operation succeeded, the audit chain holds exactly the events
// they imply and verifies, the upstream tables hold exactly what was committed, and the heap
// went back down after a forced GC. No timings; RSS is printed, not asserted (on a machine
// shared with other work it moves with the allocator, not with Gatehouse).

describe('soak', () => {
  it('sessions-under-load-lose-no-operation-no-audit-event-and-no-memory', async () => {
    const result = await runSoak({
      ssh: 20,
      db: 50,
      durationS: 15,
      openConcurrency: 8,
      pauseMs: 100,
      settleMs: 3_000,
      outPath: undefined,
    });
    console.log(summarizeSoak(result));

    expect(result.failures).toEqual([]);
    expect(result.totals.failed).toBe(0);
    expect(result.totals.succeeded).toBe(result.totals.attempted);
    for (const [group, sessions] of Object.entries(result.sessions))
      expect(sessions.opened, group).toBe(sessions.planned);

    // Every kind of work happened, and the chain holds exactly its events.
    for (const type of [
      'session.start',
      'ssh.shell',
      'ssh.exec',
      'ssh.subsystem',
      'sftp.open',
      'scp.transfer',
      'db.query',
    ])
      expect(result.audit.byType[type]?.expected ?? 0, type).toBeGreaterThan(0);
    for (const [type, count] of Object.entries(result.audit.byType)) {
      if (BEST_EFFORT_EVENTS.has(type))
        expect(count.found, type).toBeLessThanOrEqual(count.expected);
      else expect(count.found, type).toBe(count.expected);
    }
    expect(result.audit.problems).toEqual([]);
    expect(result.audit.activeSessions).toBe(0);
    expect(result.verify.ok, result.verify.output).toBe(true);
    for (const [db, data] of Object.entries(result.data))
      expect(data.found, db).toEqual(data.expected);

    // A leak of the sessions' objects would stay in the heap after a full GC.
    expect(result.memory.end.heapUsedMiB).toBeLessThan(result.memory.warm.heapUsedMiB + 16);
    expect(result.problems).toEqual([]);
  }, 900_000);
});
