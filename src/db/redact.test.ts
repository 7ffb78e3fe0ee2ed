import { describe, expect, it } from 'vitest';
import { cutUtf8, MAX_AUDITED_SQL_BYTES, mentionsSecret, redactSql } from './redact.js';

const pg = (sql: string): string => redactSql(sql, { dialect: 'postgres' }).text;
const my = (sql: string): string => redactSql(sql, { dialect: 'mysql' }).text;

describe('sql redaction', () => {
  it('alter-role-password-literal-is-replaced', () => {
    const out = redactSql("ALTER ROLE x PASSWORD 'canary'", { dialect: 'postgres' });
    expect(out).toEqual({
      text: "ALTER ROLE x PASSWORD '[redacted]'",
      isRedacted: true,
      isTruncated: false,
    });
  });

  it('every-postgres-form-of-a-password-is-replaced', () => {
    for (const sql of [
      "create role bob login password 'canary' valid until 'infinity'",
      "CREATE USER bob WITH ENCRYPTED PASSWORD E'can\\'ary'",
      'ALTER USER "bob" PASSWORD $pw$canary$pw$',
      'alter user bob password $$canary$$',
      'ALTER USER "bob" PASSWORD \'SCRAM-SHA-256$4096:c2FsdA==$canary:canary\'',
      "create user mapping for bob server s options (user 'bob', password 'canary')",
      "select dblink_connect('host=db user=bob password=canary')",
      "CREATE SUBSCRIPTION s CONNECTION 'host=db password = canary' PUBLICATION p",
      "update users set password = 'canary' where id = 1",
      "ALTER ROLE x PASSWORD U&'canary'",
    ]) {
      expect(pg(sql), sql).not.toContain('canary');
    }
  });

  it('every-mysql-form-of-a-password-is-replaced', () => {
    for (const sql of [
      "CREATE USER 'bob'@'%' IDENTIFIED BY 'canary'",
      'ALTER USER bob IDENTIFIED BY "canary"',
      "ALTER USER bob IDENTIFIED WITH caching_sha2_password BY 'canary'",
      "CREATE USER bob IDENTIFIED WITH mysql_native_password AS '*canary'",
      "SET PASSWORD FOR 'bob'@'localhost' = 'canary'",
      "SET PASSWORD = PASSWORD('canary')",
      "GRANT ALL ON *.* TO bob IDENTIFIED BY 'can\\'ary'",
      "CHANGE REPLICATION SOURCE TO SOURCE_USER='r', SOURCE_PASSWORD='canary'",
      "CHANGE MASTER TO MASTER_PASSWORD='canary'",
    ]) {
      expect(my(sql), sql).not.toContain('canary');
    }
  });

  it('statements-without-a-password-keep-their-literals', () => {
    expect(pg("select 'hello', $$body$$, E'x\\ny' from t where name = 'bob'")).toBe(
      "select 'hello', $$body$$, E'x\\ny' from t where name = 'bob'",
    );
    expect(redactSql('select 1', { dialect: 'postgres' }).isRedacted).toBe(false);
  });

  it('only-the-statement-that-names-a-password-is-redacted', () => {
    expect(pg("alter role x password 'canary'; select 'visible'")).toBe(
      "alter role x password '[redacted]'; select 'visible'",
    );
  });

  it('password-in-comments-or-inside-other-literals-does-not-arm-but-the-word-does', () => {
    expect(pg("select 'the password' , 'kept' -- password\n")).toBe(
      "select 'the password' , 'kept' -- password\n",
    );
    expect(pg("/* password */ select 'kept'")).toBe("/* password */ select 'kept'");
    expect(pg("/* nested /* password */ */ select 'kept'")).toBe(
      "/* nested /* password */ */ select 'kept'",
    );
  });

  it('a-quote-inside-a-standard-string-does-not-hide-a-later-password', () => {
    // 'it''s' is one literal; the password after it must still be found.
    expect(pg("select 'it''s'; alter role x password 'canary'")).not.toContain('canary');
    // A backslash in a standard string is an ordinary character.
    expect(pg("select 'c:\\'; alter role x password 'canary'")).not.toContain('canary');
  });

  it('an-unterminated-literal-after-password-is-replaced-to-the-end', () => {
    expect(pg("alter role x password 'canary")).toBe("alter role x password '[redacted]'");
  });

  it('long-text-is-cut-at-64-kib-with-a-flag', () => {
    const sql = `select '${'x'.repeat(MAX_AUDITED_SQL_BYTES * 2)}'`;
    const out = redactSql(sql, { dialect: 'postgres' });
    expect(out.isTruncated).toBe(true);
    expect(Buffer.byteLength(out.text)).toBeLessThanOrEqual(MAX_AUDITED_SQL_BYTES);
    expect(redactSql('select 1', { dialect: 'postgres', isCut: true }).isTruncated).toBe(true);
  });

  it('a-password-at-the-end-of-a-long-statement-never-survives-the-cut', () => {
    const sql = `alter role x password '${'c'.repeat(MAX_AUDITED_SQL_BYTES)}canary'`;
    expect(pg(sql)).not.toContain('c'.repeat(100));
  });

  it('cutting-never-splits-a-character', () => {
    expect(cutUtf8('aé', 2)).toBe('a');
    expect(cutUtf8('a😀b', 4)).toBe('a');
    expect(cutUtf8('abc', 10)).toBe('abc');
  });

  it('mentions-secret-tells-when-parameters-must-be-hidden', () => {
    expect(mentionsSecret('update users set password = $1 where id = $2', 'postgres')).toBe(true);
    expect(mentionsSecret("select 'password'", 'postgres')).toBe(false);
    expect(mentionsSecret('select * from t where id = $1', 'postgres')).toBe(false);
  });
});
