import { beforeAll, describe, expect, it } from 'vitest';
import { checkReadOnly } from './read-only.js';
import { fingerprintSql, loadSqlParser } from './sql-parser.js';

beforeAll(async () => {
  await loadSqlParser();
});

describe('read-only check', () => {
  it('reads-and-session-settings-are-allowed', () => {
    for (const sql of [
      'select 1',
      'SELECT * FROM orders WHERE id = $1',
      'with x as (select 1) select * from x',
      'select 1 union select 2',
      'values (1)',
      'table orders',
      'show all',
      'explain select * from orders',
      'explain delete from orders', // not executed without ANALYZE
      'explain (analyze, buffers) select 1',
      'set search_path = app',
      "set application_name = 'x'",
      'reset all',
      'begin',
      'start transaction isolation level serializable, read only',
      'commit; rollback',
      'declare c cursor for select 1',
      'fetch 10 from c',
      'close c',
      'prepare p as select $1::int',
      'execute p(1)',
      'deallocate all',
      'discard all',
      'listen chan',
      'copy orders to stdout',
      'copy (select 1) to stdout with (format csv)',
      "select pg_catalog.set_config('search_path', '', false)", // pg_dump's first statement
      'lock table orders in access share mode', // pg_dump's table locks
      "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'",
      'set transaction isolation level repeatable read, read only',
      '',
      ';',
    ]) {
      expect(checkReadOnly(sql), sql).toEqual({ isAllowed: true });
    }
  });

  it('writes-are-refused-and-named', () => {
    const cases: [string, string][] = [
      ['insert into orders values (1)', 'INSERT'],
      ['update orders set x = 1', 'UPDATE'],
      ['delete from orders', 'DELETE'],
      ['merge into t using s on t.id = s.id when matched then delete', 'MERGE'],
      ['truncate orders', 'TRUNCATE'],
      ['create table t (a int)', 'CREATE TABLE'],
      ['drop table orders', 'DROP'],
      ['alter table orders add column y int', 'ALTER TABLE'],
      ["alter role x password 'canary'", 'ALTER ROLE'],
      ['grant all on orders to public', 'GRANT'],
      ['do $$ begin delete from orders; end $$', 'DO'],
      ['call p()', 'CALL'],
      ["notify chan, 'x'", 'NOTIFY'],
      ['vacuum orders', 'VACUUM'],
      ['copy orders from stdin', 'COPY FROM'],
      ["copy orders to '/tmp/x'", 'COPY TO file or program'],
      ["copy orders to program 'ls'", 'COPY TO file or program'],
      ['with d as (delete from orders returning *) select * from d', 'DELETE'],
      ['select * from orders for update', 'SELECT FOR UPDATE/SHARE'],
      ['select 1 union (select 2 for share)', 'SELECT FOR UPDATE/SHARE'],
      ['select 1 into t2', 'SELECT INTO'],
      ['explain analyze delete from orders', 'DELETE'],
      ["select set_config('default_transaction_read_only', 'off', false)", 'set_config()'],
      ['select set_config($1, $2, false)', 'set_config()'],
      ["select set_config(name, 'of', false) from pg_settings", 'set_config()'],
      ['lock table orders', 'LOCK'],
      ["select pg_catalog.nextval('s')", 'nextval()'],
      ["select query_to_xml('delete from orders', true, true, '')", 'query_to_xml()'],
      ['set role postgres', 'SET role'],
      ['set session authorization postgres', 'SET session_authorization'],
      ['set default_transaction_read_only = off', 'SET default_transaction_read_only'],
      ['set transaction read write', 'SET TRANSACTION READ WRITE'],
      ['set session characteristics as transaction read write', 'SET TRANSACTION READ WRITE'],
      ['begin read write', 'BEGIN READ WRITE'],
      ['prepare p as insert into orders values ($1)', 'INSERT'],
      ['declare c cursor for select nextval($$s$$)', 'nextval()'],
      ['select 1; insert into orders values (1)', 'INSERT'],
    ];
    for (const [sql, what] of cases) {
      const verdict = checkReadOnly(sql);
      expect(verdict.isAllowed, sql).toBe(false);
      if (!verdict.isAllowed) expect(verdict.what, sql).toBe(what);
    }
  });

  it('text-that-does-not-parse-or-is-too-long-is-refused', () => {
    expect(checkReadOnly('selec 1')).toMatchObject({ isAllowed: false, why: 'does not parse' });
    expect(checkReadOnly(`select '${'x'.repeat(300_000)}'`)).toMatchObject({
      isAllowed: false,
      why: 'too long to check',
    });
  });

  it('fingerprints-ignore-constants', () => {
    expect(fingerprintSql('select * from t where a = 1')).toBe(
      fingerprintSql('SELECT * FROM t WHERE a = 42'),
    );
    expect(fingerprintSql('select * from t where a = 1')).not.toBe(
      fingerprintSql('select * from u where a = 1'),
    );
    expect(fingerprintSql('selec 1')).toBeNull();
  });
});
