import { describe, expect, it } from 'vitest';
import { Command, FieldType, MAX_PACKET_PAYLOAD, ServerStatus } from './constants.js';
import { encodeStmtPrepareOk } from './commands.js';
import {
  decodeErr,
  decodeOk,
  encodeEof,
  encodeErr,
  encodeOk,
  isResultTerminator,
} from './responses.js';
import { ResponseTracker, responseShapeOf } from './response-tracker.js';
import { binaryRow, columnCount, columnDefinition, hex, textRow } from './testing/byte-builder.js';

function feed(tracker: ResponseTracker, payloads: Buffer[]): boolean[] {
  return payloads.map((p) => tracker.accept(p, p.length));
}

const MORE = ServerStatus.AUTOCOMMIT | ServerStatus.MORE_RESULTS_EXISTS;

describe('OK, ERR and EOF packets', () => {
  it('round-trips-ok-and-err', () => {
    expect(
      decodeOk(encodeOk({ affectedRows: 300, lastInsertId: 70000, statusFlags: 3, warnings: 1 })),
    ).toEqual({ affectedRows: 300, lastInsertId: 70000, statusFlags: 3, warnings: 1 });
    expect(decodeErr(encodeErr({ code: 1142, sqlState: '42000', message: 'denied ü' }))).toEqual({
      code: 1142,
      sqlState: '42000',
      message: 'denied ü',
    });
    expect(decodeErr(hex('ff 15 04 42 61 64'))).toEqual({
      code: 1045,
      sqlState: '',
      message: 'Bad',
    });
  });

  it('tells-a-terminator-from-a-row-starting-with-0xfe', () => {
    expect(isResultTerminator(0xfe, 5, false)).toBe(true);
    expect(isResultTerminator(0xfe, 9, false)).toBe(false);
    expect(isResultTerminator(0xfe, 7, true)).toBe(true);
    expect(isResultTerminator(0xfe, 200, true)).toBe(true);
    expect(isResultTerminator(0xfe, MAX_PACKET_PAYLOAD, true)).toBe(false);
    expect(isResultTerminator(0x00, 7, true)).toBe(false);
  });
});

describe('response tracker', () => {
  it('maps-commands-to-response-shapes', () => {
    expect(responseShapeOf(Command.QUERY)).toBe('result');
    expect(responseShapeOf(Command.STMT_SEND_LONG_DATA)).toBe('none');
    expect(responseShapeOf(Command.PING)).toBe('single');
    expect(responseShapeOf(Command.STMT_PREPARE)).toBe('prepare');
  });

  it('empty-first-column-row-is-a-row-not-an-ok-packet', () => {
    // select '', 'marker1'; show schemas; select 'marker2'; (CLIENT_DEPRECATE_EOF)
    const t = new ResponseTracker('result', { isDeprecateEof: true });
    const done = feed(t, [
      columnCount(2),
      columnDefinition(''),
      columnDefinition('marker1'),
      textRow(['', 'marker1']),
      encodeOk({ statusFlags: MORE }, { header: 0xfe }),
      columnCount(1),
      columnDefinition('Database'),
      textRow(['information_schema']),
      textRow(['shop']),
      encodeOk({ statusFlags: MORE }, { header: 0xfe }),
      columnCount(1),
      columnDefinition('marker2'),
      textRow(['marker2']),
      encodeOk({ statusFlags: ServerStatus.AUTOCOMMIT }, { header: 0xfe }),
    ]);
    expect(done.indexOf(true)).toBe(done.length - 1);
    expect(t.summary).toMatchObject({
      rows: 4,
      resultSets: 3,
      error: undefined,
      resultTags: ['rows 1', 'rows 2', 'rows 1'],
    });
  });

  it('follows-eof-framing-and-ok-results-in-a-multi-statement', () => {
    const t = new ResponseTracker('result', { isDeprecateEof: false });
    const done = feed(t, [
      encodeOk({ affectedRows: 2, statusFlags: MORE }),
      columnCount(1),
      columnDefinition('a', FieldType.LONG),
      encodeEof({ statusFlags: 2 }),
      textRow([null]),
      encodeEof({ statusFlags: MORE }),
      encodeOk({ affectedRows: 5, statusFlags: 2 }),
    ]);
    expect(done).toEqual([false, false, false, false, false, false, true]);
    expect(t.summary).toMatchObject({
      rows: 1,
      affectedRows: 7,
      resultSets: 1,
      okPackets: 2,
      resultTags: ['affected 2', 'rows 1', 'affected 5'],
    });
  });

  it('an-error-ends-a-multi-result-response', () => {
    const t = new ResponseTracker('result', { isDeprecateEof: true });
    const done = feed(t, [
      encodeOk({ statusFlags: MORE }),
      encodeErr({ code: 1146, sqlState: '42S02', message: "Table 'x' doesn't exist" }),
    ]);
    expect(done).toEqual([false, true]);
    expect(t.summary.error?.code).toBe(1146);
  });

  it('an-error-in-the-middle-of-rows-ends-the-response', () => {
    const t = new ResponseTracker('result', { isDeprecateEof: true });
    const done = feed(t, [
      columnCount(1),
      columnDefinition('a'),
      textRow(['1']),
      encodeErr({ code: 1317, sqlState: '70100', message: 'Query execution was interrupted' }),
    ]);
    expect(done).toEqual([false, false, false, true]);
    expect(t.summary).toMatchObject({ rows: 1, error: { code: 1317 } });
  });

  it('reports-a-local-infile-request', () => {
    const t = new ResponseTracker('result', { isDeprecateEof: true });
    expect(t.accept(hex('fb 2f 65 74 63'), 5)).toBe(true);
    expect(t.summary.isLocalInfileRequest).toBe(true);
  });

  it('binary-rows-and-a-cursor-end-the-execute-response', () => {
    const rows = new ResponseTracker('result', { isDeprecateEof: false });
    expect(
      feed(rows, [
        columnCount(1),
        columnDefinition('a'),
        encodeEof(),
        binaryRow(['x']),
        binaryRow([null]),
        encodeEof(),
      ]),
    ).toEqual([false, false, false, false, false, true]);
    expect(rows.summary.rows).toBe(2);
    const cursor = new ResponseTracker('result', { isDeprecateEof: false });
    expect(
      feed(cursor, [
        columnCount(1),
        columnDefinition('a'),
        encodeEof({ statusFlags: ServerStatus.CURSOR_EXISTS | 2 }),
      ]),
    ).toEqual([false, false, true]);
    const fetch = new ResponseTracker('fetch', { isDeprecateEof: false });
    expect(
      feed(fetch, [binaryRow(['x']), encodeEof({ statusFlags: ServerStatus.LAST_ROW_SENT })]),
    ).toEqual([false, true]);
  });

  it('counts-prepare-definitions-with-and-without-eof', () => {
    const withEof = new ResponseTracker('prepare', { isDeprecateEof: false });
    const p = [
      encodeStmtPrepareOk({ stmtId: 9, numColumns: 1, numParams: 2, warnings: 0 }),
      columnDefinition('?'),
      columnDefinition('?'),
      encodeEof(),
      columnDefinition('a'),
      encodeEof(),
    ];
    expect(feed(withEof, p)).toEqual([false, false, false, false, false, true]);
    expect(withEof.summary.prepareOk).toEqual({
      stmtId: 9,
      numColumns: 1,
      numParams: 2,
      warnings: 0,
    });
    const deprecated = new ResponseTracker('prepare', { isDeprecateEof: true });
    expect(
      feed(deprecated, [
        encodeStmtPrepareOk({ stmtId: 1, numColumns: 0, numParams: 1, warnings: 0 }),
        columnDefinition('?'),
      ]),
    ).toEqual([false, true]);
    const none = new ResponseTracker('prepare', { isDeprecateEof: true });
    expect(
      feed(none, [encodeStmtPrepareOk({ stmtId: 1, numColumns: 0, numParams: 0, warnings: 0 })]),
    ).toEqual([true]);
  });

  it('field-list-ends-at-its-terminator', () => {
    const t = new ResponseTracker('field-list', { isDeprecateEof: true });
    expect(
      feed(t, [columnDefinition('a'), columnDefinition('b'), encodeOk({}, { header: 0xfe })]),
    ).toEqual([false, false, true]);
  });

  it('single-packet-responses-end-at-once-even-when-not-ok', () => {
    const t = new ResponseTracker('single', { isDeprecateEof: true });
    expect(t.accept(Buffer.from('Uptime: 5  Threads: 1'), 21)).toBe(true);
  });

  it('refuses-a-packet-after-the-end', () => {
    const t = new ResponseTracker('single', { isDeprecateEof: true });
    t.accept(encodeOk(), 7);
    expect(() => t.accept(encodeOk(), 7)).toThrow(/after the end/);
  });

  it('a-column-count-of-one-byte-or-more-counts-the-same-definitions', () => {
    // 250 fits in the count's first byte (read directly); 251 needs the 0xFC form.
    for (const columns of [1, 250, 251, 300]) {
      for (const isDeprecateEof of [false, true]) {
        const t = new ResponseTracker('result', { isDeprecateEof });
        const defs = Array.from({ length: columns }, (_, i) => columnDefinition(`c${i}`));
        const head = [columnCount(columns), ...defs, ...(isDeprecateEof ? [] : [encodeEof()])];
        const ends = feed(t, head);
        expect(ends.every((e) => !e)).toBe(true);
        const end = isDeprecateEof
          ? encodeOk({ statusFlags: ServerStatus.AUTOCOMMIT }, { header: 0xfe })
          : encodeEof();
        expect(feed(t, [textRow(['x']), end])).toEqual([false, true]);
        expect(t.summary).toMatchObject({ rows: 1, resultSets: 1, resultTags: ['rows 1'] });
      }
    }
    expect(() =>
      new ResponseTracker('result', { isDeprecateEof: false }).accept(hex(''), 0),
    ).toThrow();
  });
});
