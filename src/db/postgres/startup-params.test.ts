import { describe, expect, it } from 'vitest';
import {
  applicationNameFor,
  parseOptions,
  readClientStartup,
  upstreamStartupParams,
} from './startup-params.js';

const startup = (params: Record<string, string>) =>
  readClientStartup(new Map(Object.entries(params)));

describe('startup parameters', () => {
  it('options-parse-like-the-server', () => {
    expect(parseOptions('-c search_path=app  --statement-timeout=5s -cwork_mem=64MB')).toEqual([
      ['search_path', 'app'],
      ['statement_timeout', '5s'],
      ['work_mem', '64MB'],
    ]);
    expect(parseOptions('-c application_name=my\\ app -d 5 -c')).toEqual([
      ['application_name', 'my app'],
    ]);
  });

  it('the-gatehouse-auth-option-asks-for-a-password-and-is-not-passed-on', () => {
    const s = startup({ user: 'alice#db', options: '-c gatehouse.auth=token -c search_path=app' });
    expect(s.authMode).toBe('password');
    expect([...s.settings]).toEqual([['search_path', 'app']]);
    expect(startup({ user: 'alice#db' }).authMode).toBe('scram');
  });

  it('libpq-default-database-means-none', () => {
    expect(startup({ user: 'alice#db', database: 'alice#db' }).database).toBeUndefined();
    expect(startup({ user: 'alice#db', database: 'app' }).database).toBe('app');
  });

  it('replication-and-missing-user-are-refused', () => {
    expect(() => startup({ user: 'alice#db', replication: 'database' })).toThrow(/replication/);
    expect(() => startup({ database: 'x' })).toThrow(/user name/);
  });

  it('upstream-gets-the-leased-account-and-a-tagged-application-name', () => {
    const s = startup({
      user: 'alice#db',
      application_name: 'psql',
      client_encoding: 'UTF8',
      _pq_x: 'skip',
      '_pq_.compression': 'on',
    });
    expect(
      upstreamStartupParams(s, {
        account: 'leased',
        database: 'app',
        sid: 'ses_1',
        isReadOnly: false,
      }),
    ).toEqual([
      ['user', 'leased'],
      ['database', 'app'],
      ['application_name', 'psql [gatehouse:ses_1]'],
      ['client_encoding', 'UTF8'],
      ['_pq_x', 'skip'],
    ]);
  });

  it('read-only-targets-force-read-only-transactions-and-drop-what-would-lift-it', () => {
    const s = startup({
      user: 'alice#db',
      default_transaction_read_only: 'off',
      options: '-c role=postgres -c search_path=app',
    });
    expect(
      upstreamStartupParams(s, {
        account: 'leased',
        database: 'app',
        sid: 's',
        isReadOnly: true,
      }).slice(3),
    ).toEqual([
      ['search_path', 'app'],
      ['default_transaction_read_only', 'on'],
    ]);
  });

  it('application-name-fits-63-bytes-and-keeps-the-session-id', () => {
    const sid = `ses_${'a'.repeat(24)}`;
    const name = applicationNameFor('x'.repeat(100), sid);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(name.endsWith(`[gatehouse:${sid}]`)).toBe(true);
    expect(applicationNameFor(undefined, sid)).toBe(`[gatehouse:${sid}]`);
    expect(applicationNameFor('psql\u00e9', 's')).toBe('psql? [gatehouse:s]');
  });
});
