import { describe, expect, it } from 'vitest';
import { AUDIT_COLUMNS, chainRows, chunkSizes, unchainedColumns } from './chain.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { UnchainedEvent } from '../store/sqlite-messages.js';
import { hashAuditEvent } from './hash.js';

describe('chunkSizes', () => {
  it.each([
    [1, [1]],
    [7, [4, 2, 1]],
    [256, [256]],
    [300, [256, 32, 8, 4]],
    [1000, [256, 256, 256, 128, 64, 32, 8]],
  ])('a-batch-of-%i-goes-in-as-a-few-fixed-sizes', (total, sizes) => {
    expect(chunkSizes(total)).toEqual(sizes);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
  });
});

describe('chainRows', () => {
  it('chains-the-flat-columns-as-each-event-would-be-hashed-and-stored', () => {
    const events: UnchainedEvent[] = [
      {
        type: 'db.query',
        user_name: 'alice',
        sid: 's-1',
        target: 'pg-1',
        gateway: 'gw-1',
        client_addr: '10.0.0.9:5000',
        data: '{"sql":"select \\"a\\""}',
      },
      {
        type: 'session.end',
        user_name: null,
        sid: null,
        target: null,
        gateway: null,
        client_addr: null,
        data: '{}',
      },
    ];
    const prevHash = 'ab'.repeat(32);
    const { params, chained } = chainRows(
      unchainedColumns(events),
      41,
      prevHash,
      1_800_000_000_000,
    );
    const first = {
      ...(events[0] as UnchainedEvent),
      seq: 41,
      time: 1_800_000_000_000,
      prev_hash: prevHash,
    };
    const h1 = hashAuditEvent(first);
    const second = {
      ...(events[1] as UnchainedEvent),
      seq: 42,
      time: 1_800_000_000_000,
      prev_hash: h1,
    };
    const h2 = hashAuditEvent(second);
    expect(chained).toEqual({
      firstSeq: 41,
      time: 1_800_000_000_000,
      prevHash,
      hashes: [h1, h2],
    });
    const rows: AuditEventsTable[] = [
      { ...first, hash: h1 },
      { ...second, hash: h2 },
    ];
    expect(params).toEqual(rows.flatMap((row) => AUDIT_COLUMNS.map((c) => row[c])));
  });

  it('refuses-columns-that-do-not-make-whole-events', () => {
    expect(() => chainRows(['db.query', null], 1, 'ab'.repeat(32), 1)).toThrow(/partial/);
  });
});
