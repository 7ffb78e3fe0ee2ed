import { describe, expect, it } from 'vitest';
import { formatAuditRecord, tailAudit, type AuditRecord } from './index.js';
import { appendEvents, openAuditFixture } from '../../test/support/audit-fixtures.js';
import { STORE_DRIVERS } from '../../test/support/stores.js';

const RECORD: AuditRecord = {
  seq: 12,
  time: Date.parse('2026-11-29T20:00:00.000Z'),
  type: 'grant.create',
  user: 'alice',
  sid: null,
  target: 'web-1',
  gateway: null,
  clientAddr: null,
  data: { grantId: 'g1', by: 'root' },
  prevHash: '0'.repeat(64),
  hash: '1'.repeat(64),
};

describe.each(STORE_DRIVERS)('tailAudit on %s', (driver) => {
  it('returns-the-newest-events-oldest-first', async () => {
    await using fx = await openAuditFixture(driver);
    await appendEvents(fx.log, 12);
    const tail = await tailAudit(fx.store.db, { limit: 5 });
    expect(tail.map((r) => r.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(tail[4]).toMatchObject({
      type: 'ssh.command',
      user: 'alice',
      clientAddr: '10.0.0.9',
      data: { command: 'echo 12', n: 12 },
    });
    expect(tail[4]?.prevHash).toBe(tail[3]?.hash);
    expect((await tailAudit(fx.store.db, { limit: 100 })).length).toBe(12);
    expect(await tailAudit(fx.store.db, { limit: 0 })).toEqual([]);
    await expect(tailAudit(fx.store.db, { limit: Number.NaN })).rejects.toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
    });
  });
});

describe('formatAuditRecord', () => {
  it('renders-one-line-with-time-seq-type-fields-and-data', () => {
    expect(formatAuditRecord(RECORD)).toBe(
      '2026-11-29T20:00:00.000Z #12 grant.create user=alice target=web-1 {"by":"root","grantId":"g1"}',
    );
  });

  it('omits-empty-data-and-shows-every-set-field', () => {
    const record = {
      ...RECORD,
      type: 'session.start',
      sid: 's-1',
      gateway: 'gw-1',
      clientAddr: '10.0.0.9',
      data: {},
    } as const;
    expect(formatAuditRecord(record)).toBe(
      '2026-11-29T20:00:00.000Z #12 session.start user=alice sid=s-1 target=web-1 gateway=gw-1 client=10.0.0.9',
    );
  });

  it('quotes-hostile-values-so-they-cannot-forge-a-line-or-field', () => {
    const line = formatAuditRecord({
      ...RECORD,
      user: 'eve\n2026-11-29T20:00:01.000Z #13 grant.create user=root',
      data: { note: 'a\nb' },
    });
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toContain('user="eve\\n2026-11-29T20:00:01.000Z #13 grant.create user=root"');
    expect(formatAuditRecord({ ...RECORD, user: 'a=b' })).toContain('user="a=b"');
    expect(formatAuditRecord({ ...RECORD, user: '' })).toContain('user=""');
    expect(formatAuditRecord({ ...RECORD, time: 1e300 })).toMatch(/^time=1e\+300 #12 /);
  });
});
