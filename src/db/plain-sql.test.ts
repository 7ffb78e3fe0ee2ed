import { beforeAll, describe, expect, it } from 'vitest';
import { fingerprintSql, loadSqlParser } from './postgres/sql-parser.js';
import { scanPlainSql } from './plain-sql.js';
import { mentionsSecret, redactSql } from './redact.js';

beforeAll(async () => {
  await loadSqlParser();
});

// Statements of one shape each, written with two sets of constants.
const SAME_SHAPE: readonly [string, string][] = [
  [
    'SELECT abalance FROM pgbench_accounts WHERE aid = 12345;',
    'SELECT abalance FROM pgbench_accounts WHERE aid = 7;',
  ],
  [
    "select * from t where a = 'x' and b in (1, 2.5, .5e3) limit 10 offset 2",
    "select * from t where a = 'it''s' and b in (7, 3., 1e-9) limit 1 offset 0",
  ],
  [
    'INSERT INTO t (a, b) VALUES (1, -2) RETURNING a',
    'INSERT INTO t (a, b) VALUES (99999999999999999999, -0.5) RETURNING a',
  ],
  ["update t set a = a + 1, b = 'é' where id = 3", "update t set a = a + 500, b = '' where id = 4"],
  ['delete from t where x <> 5 and y >= 6', 'delete from t where x <> 50 and y >= 60'],
  [
    "select cast(x as varchar(10)), y::numeric(10,2), z::timestamp(3), w::bit(3), interval '1' second, v::interval(2) from t",
    "select cast(x as varchar(20)), y::numeric(5,1), z::timestamp(6), w::bit(8), interval '2 days' second, v::interval(4) from t",
  ],
  [
    'with q as (select 1 as a) select a from q order by 1 fetch first 5 rows only',
    'with q as (select 2 as a) select a from q order by 2 fetch first 9 rows only',
  ],
  [
    "select substring(s from 2 for 3), extract('year' from d), 4 % 3, 'a' || 'b' from t",
    "select substring(s from 1 for 9), extract('month' from d), 8 % 5, 'c' || 'd' from t",
  ],
  ['values (1, 2), (3, 4)', 'values (5, 6), (7, 8)'],
  ["select 'a'\n'b' from t", "select 'c'\n'd' from t"],
];

describe('scanPlainSql', () => {
  it.each(SAME_SHAPE)('texts-of-one-shape-have-one-fingerprint: %s', (a, b) => {
    const [sa, sb] = [scanPlainSql(a, 'postgres'), scanPlainSql(b, 'postgres')];
    expect(sa.shape).toBeDefined();
    expect(sa.shape).toBe(sb.shape);
    expect(fingerprintSql(a)).not.toBeNull();
    expect(fingerprintSql(a)).toBe(fingerprintSql(b));
    // The shape is itself a text of that shape.
    expect(fingerprintSql(sa.shape ?? '')).toBe(fingerprintSql(a));
  });

  it.each([
    // An integer that is not a constant in the grammar: the fingerprints differ, so no shape.
    ['select x::float(10) from t', 'select x::float(30) from t'],
    ['select current_time(3)', 'select current_time(6)'],
    ['select localtimestamp(1)', 'select localtimestamp(2)'],
  ])('no-shape-where-a-number-is-not-a-constant: %s', (a, b) => {
    expect(fingerprintSql(a)).not.toBe(fingerprintSql(b));
    expect(scanPlainSql(a, 'postgres').shape).toBeUndefined();
    expect(scanPlainSql(a, 'postgres').isPlain).toBe(true);
  });

  it.each([
    'fetch 5 from c',
    'set work_mem = 64',
    "comment on table t is 'x'",
    "notify c, 'x'",
    'select 1; fetch 5 from c',
    'select 1 from t where a = $1',
    "select E'x' from t",
    'select "a" from t',
    'select 1 -- comment',
    'select /* c */ 1',
    'select t.5',
    'select 0x1F',
    'select 1_000',
    'select 1abc',
    'select arr[1] from t',
    "select 'unterminated",
    'select é from t',
  ])('no-shape-outside-plain-dml: %s', (sql) => {
    expect(scanPlainSql(sql, 'postgres').shape).toBeUndefined();
  });

  it.each([
    'SELECT abalance FROM pgbench_accounts WHERE aid = 1;',
    "select * from t where a = 'host=x user=y'",
    'show tables',
    'SELECT c FROM sbtest1 WHERE id=5',
    'select passed, password_hint from t',
  ])('a-plain-text-is-what-the-redactor-leaves-alone: %s', (sql) => {
    for (const dialect of ['postgres', 'mysql'] as const) {
      expect(scanPlainSql(sql, dialect).isPlain).toBe(true);
      expect(redactSql(sql, { dialect })).toEqual({
        text: sql,
        isRedacted: false,
        isTruncated: false,
      });
      expect(mentionsSecret(sql, dialect)).toBe(false);
    }
  });

  it.each([
    "alter role x password 'canary'",
    "create user x identified by 'canary'",
    "select * from dblink('host=x password=canary', 'select 1')",
    "select * from dblink('host=x PASSWD = canary', 'select 1')",
    'update users set master_password = 1',
    "select 'a\\' , 1 from t -- '",
    'select "password" from t',
    'select `password` from t',
    "select x'41'",
    '# comment\nselect 1',
  ])('what-the-redactor-would-look-at-is-not-plain: %s', (sql) => {
    expect(scanPlainSql(sql, 'postgres').isPlain).toBe(false);
    expect(scanPlainSql(sql, 'mysql').isPlain).toBe(false);
  });
});
