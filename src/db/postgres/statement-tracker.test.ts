import { beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../../audit/types.js';
import { QueryAuditor } from '../query-audit.js';
import { loadSqlParser } from './sql-parser.js';
import { StatementTracker, type ServerEffect } from './statement-tracker.js';
import type { TrackedMessage } from './tracked-message.js';
import { cstr, int16, int32, msg } from './protocol/testing/test-buffers.js';

beforeAll(async () => {
  await loadSqlParser();
});

/** A tracker over a fake conversation: client and server messages as built bytes. */
function conversation(options: { isReadOnly?: boolean; isServerAtBoundary?: boolean } = {}) {
  const events: AuditEventInput[] = [];
  const written: Buffer[] = [];
  let now = 0;
  const auditor = new QueryAuditor({
    auditBatch: (batch) => {
      events.push(...batch);
      return Promise.resolve();
    },
    sid: 'ses_t',
    user: 'alice',
    target: 'db',
    clientAddr: '192.0.2.1',
    protocol: 'postgres',
    dialect: 'postgres',
    onFailure: () => undefined,
  });
  const tracker = new StatementTracker({
    auditor,
    isReadOnly: options.isReadOnly ?? false,
    targetName: 'db',
    isServerAtBoundary: () => options.isServerAtBoundary ?? true,
    writeToClient: (b) => written.push(b),
    clock: () => now,
  });
  const asTracked = (bytes: Buffer): TrackedMessage => ({
    type: bytes[0] ?? 0,
    body: bytes.subarray(5),
    isTruncated: false,
  });
  return {
    events,
    written,
    tick: (ms: number) => (now += ms),
    client: (...messages: Buffer[]): boolean[] =>
      messages.map((m) => tracker.onClientMessage(asTracked(m))),
    server: (...messages: Buffer[]): (ServerEffect | undefined)[] =>
      messages.map((m) => tracker.onServerMessage(asTracked(m))),
    tracker,
    queries: () => events.filter((e) => e.type === 'db.query').map((e) => e.data ?? {}),
    flush: () => auditor.flush(),
  };
}

const Q = (sql: string): Buffer => msg('Q', cstr(sql));
const P = (sql: string, name = ''): Buffer => msg('P', cstr(name), cstr(sql), int16(0));
const B = (params: string[] = [], statement = '', portal = ''): Buffer =>
  msg(
    'B',
    cstr(portal),
    cstr(statement),
    int16(0),
    int16(params.length),
    ...params.flatMap((p) => [int32(Buffer.byteLength(p)), Buffer.from(p)]),
    int16(0),
  );
const E = (portal = ''): Buffer => msg('E', cstr(portal), int32(0));
const S = (): Buffer => msg('S');
const Z = (status = 'I'): Buffer => msg('Z', Buffer.from(status));
const C = (tag: string): Buffer => msg('C', cstr(tag));
const D = (): Buffer => msg('D', int16(1), int32(1), Buffer.from('1'));
const T = (): Buffer => msg('T', int16(0));
const ERR = (code: string, message: string): Buffer =>
  msg(
    'E',
    Buffer.from('S'),
    cstr('ERROR'),
    Buffer.from('C'),
    cstr(code),
    Buffer.from('M'),
    cstr(message),
    Buffer.of(0),
  );

describe('statement tracker', () => {
  it('a-simple-query-is-audited-at-ready-with-rows-and-duration', async () => {
    const c = conversation();
    c.client(Q('select 1; select 2'));
    c.tick(12);
    c.server(T(), D(), C('SELECT 1'), T(), D(), C('SELECT 1'), Z());
    await c.flush();
    expect(c.queries()).toEqual([
      expect.objectContaining({
        mode: 'simple',
        sql: 'select 1; select 2',
        rows: 2,
        commands: ['SELECT 1', 'SELECT 1'],
        durationMs: 12,
        status: 'ok',
      }),
    ]);
  });

  it('pipelined-extended-groups-each-audit-their-execute-with-sql-and-parameters', async () => {
    const c = conversation();
    c.client(P('select $1::int', 's1'), B(['5'], 's1'), E(), S(), B(['6'], 's1'), E(), S());
    c.server(msg('1'), msg('2'), D(), C('SELECT 1'), Z(), msg('2'), D(), C('SELECT 1'), Z());
    await c.flush();
    expect(c.queries().map((q) => [q['sql'], q['params'], q['statement'], q['rows']])).toEqual([
      ['select $1::int', ['5'], 's1', 1],
      ['select $1::int', ['6'], 's1', 1],
    ]);
    expect(c.tracker.pendingResponses).toBe(0);
  });

  it('an-error-in-a-group-skips-the-rest-of-it-up-to-sync', async () => {
    const c = conversation();
    c.client(P('select 1/0'), B(), E(), S(), Q('select 2'));
    c.server(msg('1'), ERR('22012', 'division by zero'), Z(), T(), D(), C('SELECT 1'), Z());
    await c.flush();
    expect(c.queries().map((q) => [q['sql'], q['sqlstate'] ?? null])).toEqual([
      ['select 1/0', '22012'],
      ['select 2', null],
    ]);
    expect(c.tracker.pendingResponses).toBe(0);
  });

  it('messages-sent-after-an-error-before-sync-are-not-waited-for', async () => {
    const c = conversation();
    c.client(P('bad sql'), msg('H'));
    c.server(ERR('42601', 'syntax error'));
    // The client, not knowing yet, goes on; the target discards these until Sync.
    c.client(B(), E(), S());
    c.server(Z());
    c.client(Q('select 1'));
    c.server(T(), D(), C('SELECT 1'), Z());
    await c.flush();
    expect(c.queries().map((q) => q['sql'])).toEqual(['bad sql', 'select 1']);
    expect(c.tracker.pendingResponses).toBe(0);
  });

  it('copy-from-stdin-in-the-extended-protocol-ignores-the-early-sync', async () => {
    const c = conversation();
    c.client(P('copy t from stdin'), B(), E(), S());
    c.server(msg('1'), msg('2'), msg('G', Buffer.from([0]), int16(0)));
    c.client(msg('d', Buffer.from('1\n')), msg('S'), msg('c'), S());
    c.server(C('COPY 1'), Z());
    c.client(Q('select 1'));
    c.server(T(), D(), C('SELECT 1'), Z());
    await c.flush();
    expect(c.queries().map((q) => [q['sql'], q['rows']])).toEqual([
      ['copy t from stdin', 1],
      ['select 1', 1],
    ]);
    expect(c.tracker.pendingResponses).toBe(0);
  });

  it('read-only-refusals-are-answered-in-order-and-drop-the-rest-of-their-group', async () => {
    const c = conversation({ isReadOnly: true });
    const forwarded = c.client(
      Q('select 1'),
      P('insert into t values (1)'),
      B(),
      E(),
      S(),
      Q('delete from t'),
    );
    expect(forwarded).toEqual([true, false, false, false, true, false]);
    expect(c.written).toEqual([]); // nothing before the first query's answer
    const effects = c.server(T(), D(), C('SELECT 1'), Z('T'));
    // After select 1's ReadyForQuery: the refusal of the Parse (its Sync's Z comes from the target).
    const after = effects[3]?.after ?? [];
    expect(after.map((b) => String.fromCharCode(b[0] ?? 0))).toEqual(['E']);
    // The group's Sync answer: a transaction the refusal failed turns from T to E, then the refused Query's answer.
    const syncEffect = c.server(Z('T'))[0];
    expect(syncEffect?.status).toBe('E');
    expect(syncEffect?.after?.map((b) => String.fromCharCode(b[0] ?? 0))).toEqual(['E', 'Z']);
    await c.flush();
    expect(c.events.filter((e) => e.type === 'db.denied').map((e) => e.data?.['what'])).toEqual([
      'INSERT',
      'DELETE',
    ]);
  });

  it('a-refusal-with-nothing-pending-is-written-at-once-or-after-the-message-in-flight', () => {
    const now = conversation({ isReadOnly: true });
    now.client(Q('drop table t'));
    expect(now.written.map((b) => b.toString('latin1'))).toEqual([
      expect.stringContaining('42501'),
    ]);
    const later = conversation({ isReadOnly: true, isServerAtBoundary: false });
    later.client(Q('drop table t'));
    expect(later.written).toEqual([]);
    const effect = later.server(msg('A', int32(1), cstr('chan'), cstr('payload')))[0];
    expect(effect?.after?.length).toBe(2);
  });
});
