// Dev helper (not part of the bench run): the CPU one audited database statement costs
// Gatehouse in process, from the relay's `recordStatement` on: the auditor (redaction,
// fingerprint by shape), the transcript line, the audit log's validation and group commit, and
// the chain append on `gatehouse serve`'s store (SQLite in its worker thread, from dist/: run
// `npm run build` first). 8 sessions take turns with pgbench -S's statement (a new literal
// each time). Prints the event loop's CPU and the whole process's per statement.
// `node bench/launch.mjs bench/db/audit-path-cost.ts [--statements N] [--rounds N]`.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSqlParser, fingerprintSql } from '../../src/db/postgres/sql-parser.js';
import { QueryAuditor } from '../../src/db/query-audit.js';
import { DbTranscriptWriter } from '../../src/recording/db-transcript.js';
import { openAuditFixture } from '../../test/support/audit-fixtures.js';
import { scriptOption } from '../lib/options.js';

const option = (name: string, fallback: number): number => Number(scriptOption(name) ?? fallback);
const STATEMENTS = option('--statements', 40_000);
const ROUNDS = option('--rounds', 5);
const SESSIONS = 8;

/** CPU time (µs) of this process's threads: the event loop's (the main thread) and all. */
function threadCpu(): { main: number; all: number } {
  let all = 0;
  let main = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      all += ns;
      if (tid === String(process.pid)) main = ns;
    } catch {
      // the thread ended meanwhile
    }
  }
  return { main: main / 1000, all: all / 1000 };
}

await loadSqlParser();
await using fx = await openAuditFixture('sqlite-worker');
const dir = mkdtempSync(join(tmpdir(), 'gh-auditcost-'));
try {
  const results: { main: number; all: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, s) => {
        const sid = `r${r}s${s}`;
        const transcript = await DbTranscriptWriter.create(join(dir, `${sid}.ndjson`), {
          sid,
          user: 'alice',
          target: 'bench-pg',
          protocol: 'postgres',
          account: 'bench_leased',
          database: 'bench',
        });
        const auditor = new QueryAuditor({
          auditBatch: (events) =>
            fx.log.appendBatch(events.map((event) => ({ gateway: 'gw-1', ...event }))),
          sid,
          user: 'alice',
          target: 'bench-pg',
          clientAddr: '127.0.0.1:40000',
          protocol: 'postgres',
          dialect: 'postgres',
          fingerprint: fingerprintSql,
          transcript,
          onFailure: (err) => {
            throw err;
          },
        });
        return { auditor, transcript };
      }),
    );
    const started = threadCpu();
    for (let i = 0; i < STATEMENTS; i++) {
      const session = sessions[i % SESSIONS];
      if (session === undefined) throw new Error('no session');
      session.auditor.recordStatement({
        mode: 'simple',
        sql: `SELECT abalance FROM pgbench_accounts WHERE aid = ${(i * 7919) % 100_000};`,
        durationMs: 0.123,
        rows: 1,
        commands: ['SELECT 1'],
      });
      // Let timers, commits and transcript writes run now and then, as they would.
      if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
    }
    for (const { auditor, transcript } of sessions) {
      await auditor.flush();
      await transcript.close();
    }
    const used = threadCpu();
    results.push({
      main: (used.main - started.main) / STATEMENTS,
      all: (used.all - started.all) / STATEMENTS,
    });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(' ');
  process.stdout.write(
    `CPU per statement (µs), ${ROUNDS} rounds of ${STATEMENTS}, ${SESSIONS} sessions:\n` +
      `  event loop ${fmt(results.map((r) => r.main))}; median ${median(results.map((r) => r.main)).toFixed(1)}\n` +
      `  all threads ${fmt(results.map((r) => r.all))}; median ${median(results.map((r) => r.all)).toFixed(1)}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
