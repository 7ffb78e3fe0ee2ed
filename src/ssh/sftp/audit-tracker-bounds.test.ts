import { describe, expect, it } from 'vitest';
import { SftpAuditTracker } from './audit-tracker.js';
import { SftpOpenFlag as F, SftpPacketType as T, SftpStatusCode as S } from './constants.js';
import { openAuditSession } from './testing/audit-session.js';
import { reply, request } from './testing/sftp-packets.js';

// What the tracker holds stays bounded (requests, their paths, open files) and long paths are cut.

describe('SftpAuditTracker bounds', () => {
  it('bounds-outstanding-requests-evicting-the-oldest-and-counting-it', () => {
    const { tap, events } = openAuditSession({ maxPendingRequests: 3 });
    tap.fromClient(request.path(T.REMOVE, 1, '/one'));
    for (let id = 2; id <= 5; id += 1) tap.fromClient(request.path(T.STAT, id, '/x'));
    expect(events).toEqual([{ type: 'sftp.remove', path: '/one', ok: null, status: 'evicted' }]);
    expect(tap.stats.droppedRequests).toBe(2);
    tap.fromServer(reply.status(1, S.OK));
    expect(tap.stats.unmatchedResponses).toBe(1);
  });

  it('bounds-the-path-characters-held-by-outstanding-requests', () => {
    const { tap, events } = openAuditSession({ maxPendingPathChars: 100, maxPathLength: 40 });
    for (let id = 1; id <= 5; id += 1)
      tap.fromClient(request.path(T.REMOVE, id, `/${String(id).repeat(60)}`));
    // Each path is cut to 40 characters, and 100 characters hold two of them.
    expect(events).toEqual(
      [1, 2, 3].map((id): unknown =>
        expect.objectContaining({ path: `/${String(id).repeat(39)}`, status: 'evicted' }),
      ),
    );
    expect(tap.stats.droppedRequests).toBe(3);
  });

  it('bounds-open-files-evicting-the-oldest-with-its-counts', () => {
    const { tap, events } = openAuditSession({ maxOpenHandles: 2 });
    for (let i = 1; i <= 3; i += 1) {
      tap.fromClient(request.open(i, `/f${i}`, F.READ));
      tap.fromServer(reply.handle(i, `0${i}`));
    }
    expect(events.filter((e) => e.type === 'sftp.close')).toEqual([
      expect.objectContaining({ path: '/f1', reason: 'evicted', ok: null, status: 'evicted' }),
    ]);
    expect(tap.stats.droppedHandles).toBe(1);
  });

  it('keeps-its-tables-bounded-under-a-flood-of-requests', () => {
    const tracker = new SftpAuditTracker({ onEvent: () => undefined, maxPendingRequests: 10_000 });
    for (let id = 0; id < 50_000; id += 1) {
      tracker.onClientMessage({ kind: 'open', id, path: `/f${id}`, pflags: 1, attrs: {} });
      tracker.onServerMessage({ kind: 'handle', id: id - 1, handle: id.toString(16) });
    }
    expect(tracker.pendingRequests).toBeLessThanOrEqual(10_000);
    expect(tracker.openFiles).toBeLessThanOrEqual(10_000);
    expect(tracker.stats.droppedHandles).toBeGreaterThan(0);
  });

  it('cuts-long-paths-and-says-so', () => {
    const { tap, events } = openAuditSession({ maxPathLength: 8 });
    tap.fromClient(request.rename(1, '/short', `/${'x'.repeat(20)}`));
    tap.fromServer(reply.status(1, S.OK));
    expect(events[0]).toMatchObject({ from: '/short', to: '/xxxxxxx', truncated: true });
  });

  it('cuts-a-path-without-splitting-a-surrogate-pair', () => {
    const { tap, events } = openAuditSession({ maxPathLength: 3 });
    tap.fromClient(request.path(T.REMOVE, 1, '/a😀b'));
    tap.fromServer(reply.status(1, S.OK));
    expect(events[0]).toMatchObject({ path: '/a', truncated: true });
  });
});
