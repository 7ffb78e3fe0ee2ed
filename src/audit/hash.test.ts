import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { canonicalAuditEvent, type ChainedEventRow } from './hash.js';

// The general form canonicalAuditEvent must produce byte for byte (DESIGN.md §5).
function viaCanonicalJson(row: ChainedEventRow): string {
  return canonicalJson({
    seq: row.seq,
    time: row.time,
    type: row.type,
    user: row.user_name,
    sid: row.sid,
    target: row.target,
    gateway: row.gateway,
    client_addr: row.client_addr,
    data: row.data,
  });
}

const base: ChainedEventRow = {
  seq: 42,
  time: 1_800_000_000_123,
  type: 'db.query',
  user_name: 'alice',
  sid: 'ses_0123',
  target: 'orders-db',
  gateway: 'gw_1',
  client_addr: '127.0.0.1',
  data: '{"sql":"SELECT \'é\\"\\\\n\' -- \\u2028","rows":1}',
  prev_hash: 'a'.repeat(64),
};

describe('canonicalAuditEvent', () => {
  it.each([
    ['every field set', base],
    [
      'null fields',
      { ...base, user_name: null, sid: null, target: null, gateway: null, client_addr: null },
    ],
    ['odd text', { ...base, user_name: 'ü"\\\n\u0001', target: '</script>', data: '{}' }],
  ])('writes-the-same-text-as-canonical-json: %s', (_name, row) => {
    expect(canonicalAuditEvent(row)).toBe(viaCanonicalJson(row));
  });
});
