import { describe, expect, it } from 'vitest';
import { lexStatements } from './sql-lexer.js';
import { checkQuery, parseKill } from './statement-policy.js';

const ro = (sql: string): boolean =>
  checkQuery(sql, { isReadOnly: true, isComplete: true }).isAllowed;
const rw = (sql: string): boolean =>
  checkQuery(sql, { isReadOnly: false, isComplete: true }).isAllowed;

describe('mysql lexer', () => {
  it('splits-statements-and-drops-comments-but-keeps-executable-ones', () => {
    const s = lexStatements(
      'select 1; # c\n-- c\nshow /* x; */ tables; /*!40101 SET NAMES utf8 */;--x',
      { hasBackslashEscapes: true },
    );
    expect(s.map((t) => t.map((x) => x.text).join(' '))).toEqual([
      'SELECT 1',
      'SHOW TABLES',
      'SET NAMES UTF8',
      '- - X',
    ]);
  });

  it('keeps-semicolons-inside-quotes-and-backticks', () => {
    const s = lexStatements("select 'a;b', \"c;d\", `e;f`, 'it''s', 'x\\'y'", {
      hasBackslashEscapes: true,
    });
    expect(s).toHaveLength(1);
    expect(s[0]?.filter((t) => t.kind !== 'symbol').map((t) => t.text)).toEqual([
      'SELECT',
      'a;b',
      'c;d',
      'e;f',
      "it's",
      "x'y",
    ]);
  });
});

describe('statement policy', () => {
  it('read-only-target-allows-reads', () => {
    for (const sql of [
      'SELECT 1',
      "select '', 'marker1'; show schemas; select 'marker2';",
      '(select 1) union (select 2)',
      'show processlist',
      'describe t',
      'EXPLAIN DELETE FROM t',
      'use shop',
      'set names utf8mb4',
      'set @a = (select count(*) from t)',
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'begin; select 1; commit',
      'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY',
      'with x as (select 1) select * from x',
      "prepare s from 'select ?'",
      'KILL QUERY 12',
      '/* just a comment */',
      'select * from t for update',
      'ANALYZE SELECT 1',
    ]) {
      expect(ro(sql), sql).toBe(true);
    }
  });

  it('read-only-target-refuses-writes-and-escapes', () => {
    for (const sql of [
      'insert into t values (1)',
      'select 1; delete from t',
      'SELECT 1 /*!50000 ; DROP TABLE t */',
      'update t set a = 1',
      'create table x (a int)',
      "ALTER USER x IDENTIFIED BY 'canary'",
      'select * from t into outfile "/tmp/x"',
      'with x as (select 1) delete from t',
      'set session transaction read write',
      'set @@session.transaction_read_only = 0',
      'SET tx_read_only = OFF',
      "set sql_mode = 'NO_BACKSLASH_ESCAPES'",
      'START TRANSACTION READ WRITE',
      'begin not atomic delete from t; end',
      'call p()',
      'EXPLAIN ANALYZE DELETE FROM t',
      'ANALYZE DELETE FROM t',
      'ANALYZE TABLE t',
      'prepare s from @q',
      "prepare s from 'delete from t'",
      'SET STATEMENT max_statement_time=1 FOR DELETE FROM t',
      'lock tables t write',
      'grant all on *.* to x',
    ]) {
      expect(ro(sql), sql).toBe(false);
    }
  });

  it('a-backslash-is-read-both-ways', () => {
    // With NO_BACKSLASH_ESCAPES the server ends the string at the backslash and runs the DELETE.
    expect(ro("select 'a\\'; delete from t; -- '")).toBe(false);
    expect(ro("select 'a\\\\b'")).toBe(true);
  });

  it('load-data-local-is-refused-everywhere-and-names-the-reason', () => {
    expect(
      checkQuery("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t", {
        isReadOnly: false,
        isComplete: true,
      }),
    ).toEqual({ isAllowed: false, reason: 'local-infile', verb: 'LOAD' });
    expect(rw("load xml low_priority local infile 'x' into table t")).toBe(false);
    expect(rw("select 1; LOAD DATA /*!50000 LOCAL */ INFILE 'x' INTO TABLE t")).toBe(false);
    expect(rw("LOAD DATA INFILE '/var/lib/mysql-files/x' INTO TABLE t")).toBe(true);
    expect(rw("select 'load data local infile'")).toBe(true);
  });

  it('a-cut-query-on-a-read-only-target-is-refused-as-too-long', () => {
    expect(checkQuery('select 1', { isReadOnly: true, isComplete: false })).toMatchObject({
      isAllowed: false,
      reason: 'too-long',
    });
    expect(checkQuery('select 1', { isReadOnly: false, isComplete: false }).isAllowed).toBe(true);
  });

  it('recognizes-kill-statements-as-clients-send-them', () => {
    expect(parseKill('KILL QUERY 42')).toEqual({ prefix: 'KILL QUERY', id: 42 });
    expect(parseKill('KILL /*!50000 QUERY */ 42')).toEqual({ prefix: 'KILL QUERY', id: 42 });
    expect(parseKill('kill 7;')).toEqual({ prefix: 'KILL', id: 7 });
    expect(parseKill('KILL HARD CONNECTION 9')).toEqual({ prefix: 'KILL HARD CONNECTION', id: 9 });
    expect(parseKill('KILL USER bob')).toBeUndefined();
    expect(parseKill('KILL 1; KILL 2')).toBeUndefined();
  });
});
