import { describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../audit/types.js';
import { GatehouseError } from '../core/errors.js';
import { QueryAuditor, type QueryAuditorOptions } from './query-audit.js';

function auditor(overrides: Partial<QueryAuditorOptions> = {}) {
  const events: AuditEventInput[] = [];
  const failures: GatehouseError[] = [];
  const a = new QueryAuditor({
    auditBatch: (batch) => {
      events.push(...batch);
      return Promise.resolve();
    },
    sid: 'ses_1',
    user: 'alice',
    target: 'db',
    clientAddr: '192.0.2.1',
    protocol: 'postgres',
    dialect: 'postgres',
    onFailure: (err) => failures.push(err),
    fingerprint: (sql) => (sql.startsWith('select') ? 'f00d' : null),
    ...overrides,
  });
  return { a, events, failures };
}

describe('query auditor', () => {
  it('a-statement-becomes-a-db-query-event-naming-the-person', async () => {
    const { a, events } = auditor();
    a.recordStatement({
      mode: 'extended',
      sql: 'select * from t where id = $1',
      params: ['7', null],
      statement: 's1',
      portal: '',
      durationMs: 1.23456,
      rows: 1,
      commands: ['SELECT 1'],
    });
    await a.flush();
    expect(events).toEqual([
      {
        type: 'db.query',
        user: 'alice',
        sid: 'ses_1',
        target: 'db',
        clientAddr: '192.0.2.1',
        data: {
          protocol: 'postgres',
          mode: 'extended',
          sql: 'select * from t where id = $1',
          fingerprint: 'f00d',
          statement: 's1',
          portal: '',
          params: ['7', null],
          durationMs: 1.235,
          rows: 1,
          commands: ['SELECT 1'],
          status: 'ok',
        },
      },
    ]);
    expect(a.stats).toEqual({ statements: 1, errors: 0, denied: 0, cancels: 0 });
  });

  it('a-statement-naming-a-password-hides-its-literals-parameters-and-error-text', async () => {
    const { a, events } = auditor();
    a.recordStatement({
      mode: 'extended',
      sql: 'alter role x password $1',
      params: ['canary'],
      durationMs: 1,
      rows: null,
      sqlstate: '42601',
      error: "syntax error at or near 'canary'",
    });
    a.recordStatement({
      mode: 'simple',
      sql: "alter role x password 'canary'",
      durationMs: 1,
      rows: null,
    });
    await a.flush();
    expect(JSON.stringify(events)).not.toContain('canary');
    expect(events.map((e) => e.data?.['redacted'])).toEqual([true, true]);
    expect(events[0]?.data?.['params']).toEqual(['[redacted]']);
  });

  it('long-parameters-and-many-parameters-are-cut-with-a-flag', async () => {
    const { a, events } = auditor();
    a.recordStatement({
      mode: 'extended',
      sql: 'select $1',
      params: Array.from({ length: 150 }, () => 'x'.repeat(5000)),
      durationMs: 1,
      rows: 1,
    });
    await a.flush();
    const params = events[0]?.data?.['params'] as string[];
    expect(params).toHaveLength(100);
    expect(params[0]).toHaveLength(1024);
    expect(events[0]?.data?.['paramsTruncated']).toBe(true);
  });

  it('a-failed-audit-write-fails-the-session-once-and-stops-writing', async () => {
    let calls = 0;
    const { a, failures } = auditor({
      auditBatch: () =>
        ++calls === 1 ? Promise.reject(new Error('disk full')) : Promise.resolve(),
    });
    a.recordStatement({ mode: 'simple', sql: 'select 1', durationMs: 1, rows: 1 });
    await a.flush();
    a.recordStatement({ mode: 'simple', sql: 'select 2', durationMs: 1, rows: 1 });
    await a.flush();
    expect(failures.map((f) => f.code)).toEqual(['GH_AUDIT_WRITE_FAILED']);
    expect(calls).toBe(1);
  });

  it('statements-in-quick-succession-are-committed-together-in-order', async () => {
    const batches: string[][] = [];
    const auditBatch = (events: readonly AuditEventInput[]): Promise<void> => {
      batches.push(events.map((e) => String(e.data?.['sql'])));
      return Promise.resolve();
    };
    const { a } = auditor({ auditBatch, batchIntervalMs: 20 });
    for (let i = 0; i < 5; i++)
      a.recordStatement({ mode: 'simple', sql: `select ${i}`, durationMs: 1, rows: 1 });
    await new Promise((r) => setTimeout(r, 60));
    expect(batches).toEqual([['select 0', 'select 1', 'select 2', 'select 3', 'select 4']]);
  });

  it('a-slow-audit-chain-backs-the-relay-up-instead-of-queueing-without-end', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { a } = auditor({ auditBatch: () => gate, maxPending: 3, batchIntervalMs: 1 });
    for (let i = 0; i < 3; i++)
      a.recordStatement({ mode: 'simple', sql: `select ${i}`, durationMs: 1, rows: 1 });
    expect(a.isBackedUp).toBe(true);
    const drained = a.whenDrained();
    release();
    await drained;
    expect(a.isBackedUp).toBe(false);
  });

  it('statements-differing-only-in-constants-share-one-fingerprint-computation', async () => {
    const seen: string[] = [];
    const fingerprint = (sql: string): string => {
      seen.push(sql);
      return `fp${seen.length}`;
    };
    const { a, events } = auditor({ fingerprint });
    a.recordStatement({
      mode: 'simple',
      sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = 101;',
      durationMs: 1,
      rows: 1,
    });
    a.recordStatement({
      mode: 'simple',
      sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = 202;',
      durationMs: 1,
      rows: 1,
    });
    a.recordStatement({
      mode: 'simple',
      sql: "SELECT abalance FROM pgbench_accounts WHERE aid = 'x';",
      durationMs: 1,
      rows: 1,
    });
    a.recordStatement({
      mode: 'simple',
      sql: "alter role x password 'canary1'",
      durationMs: 1,
      rows: null,
    });
    a.recordStatement({
      mode: 'simple',
      sql: "alter role x password 'canary2'",
      durationMs: 1,
      rows: null,
    });
    await a.flush();
    expect(
      events.map((e) => [e.data?.['sql'], e.data?.['fingerprint'], e.data?.['redacted']]),
    ).toEqual([
      ['SELECT abalance FROM pgbench_accounts WHERE aid = 101;', 'fp1', undefined],
      ['SELECT abalance FROM pgbench_accounts WHERE aid = 202;', 'fp1', undefined],
      ["SELECT abalance FROM pgbench_accounts WHERE aid = 'x';", 'fp2', undefined],
      ["alter role x password '[redacted]'", 'fp3', true],
      ["alter role x password '[redacted]'", 'fp4', true],
    ]);
    expect(JSON.stringify(events)).not.toContain('canary');
  });

  it('a-text-repeated-gives-the-same-data-each-time-and-each-dialect-its-own', async () => {
    // The text cache skips its LRU move for the newest text and keeps one cache per dialect:
    // a backslash escapes in MySQL literals, not in PostgreSQL's (standard strings).
    const sql = "select 'a\\' , password = 'x' -- '";
    const pg = auditor();
    const my = auditor({ protocol: 'mysql', dialect: 'mysql' });
    for (const other of [undefined, 'select 2', undefined, undefined]) {
      for (const { a } of [pg, my]) {
        a.recordStatement({ mode: 'simple', sql, durationMs: 1, rows: null });
        if (other !== undefined)
          a.recordStatement({ mode: 'simple', sql: other, durationMs: 1, rows: null });
      }
    }
    await pg.a.flush();
    await my.a.flush();
    const texts = (events: AuditEventInput[]) =>
      events.filter((e) => e.data?.['sql'] !== 'select 2').map((e) => e.data?.['sql']);
    expect(texts(pg.events)).toEqual(Array(4).fill("select 'a\\' , password = '[redacted]' -- '"));
    expect(texts(my.events)).toEqual(Array(4).fill("select '[redacted]'x' -- '"));
    for (const { events } of [pg, my])
      for (const e of events)
        if (e.data?.['sql'] !== 'select 2') expect(e.data?.['redacted']).toBe(true);
  });
});
