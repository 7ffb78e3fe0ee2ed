import { describe, expect, it } from 'vitest';
import type { SftpAuditEvent } from './audit-events.js';
import { SftpAuditTap, type SftpAuditTapOptions } from './audit-tap.js';
import { SftpAuditTracker } from './audit-tracker.js';
import { SftpOpenFlag as F, SftpPacketType as T, SftpStatusCode as S } from './constants.js';
import { reply, request, sftpPacket } from './testing/sftp-packets.js';

const READ = F.READ;
const PUT = F.WRITE | F.CREAT | F.TRUNC;

/** A tap with a hand-moved clock and the events it reported. */
function openSession(options: Partial<SftpAuditTapOptions> = {}) {
  const events: SftpAuditEvent[] = [];
  const clock = { now: 1_000 };
  const tap = new SftpAuditTap({
    onEvent: (e) => events.push(e),
    clock: () => clock.now,
    ...options,
  });
  tap.fromClient(request.init());
  tap.fromServer(reply.version(3));
  return { tap, events, clock };
}

describe('SftpAuditTracker', () => {
  it('reports-a-whole-session-with-byte-counts-per-file', () => {
    const { tap, events, clock } = openSession();
    // Upload: open, three pipelined writes, close.
    tap.fromClient(request.open(1, '/home/alice/up.bin', PUT, { permissions: 0o644 }));
    tap.fromServer(reply.handle(1, '00000000'));
    tap.fromClient(
      Buffer.concat([
        request.write(2, '00000000', 0, Buffer.alloc(32768)),
        request.write(3, '00000000', 32768, Buffer.alloc(32768)),
        request.write(4, '00000000', 65536, Buffer.alloc(1000)),
      ]),
    );
    clock.now += 250;
    tap.fromServer(
      Buffer.concat([reply.status(2, S.OK), reply.status(3, S.OK), reply.status(4, S.OK)]),
    );
    tap.fromClient(request.close(5, '00000000'));
    tap.fromServer(reply.status(5, S.OK));
    // Download: open, reads until EOF, close.
    tap.fromClient(request.open(6, '/home/alice/down.txt', READ));
    tap.fromServer(reply.handle(6, '00000001'));
    tap.fromClient(
      Buffer.concat([
        request.read(7, '00000001', 0, 32768),
        request.read(8, '00000001', 32768, 32768),
      ]),
    );
    tap.fromServer(
      Buffer.concat([reply.data(7, Buffer.alloc(32768)), reply.data(8, Buffer.alloc(5))]),
    );
    tap.fromClient(request.read(9, '00000001', 32773, 32768));
    tap.fromServer(reply.status(9, S.EOF, 'End of file'));
    tap.fromClient(request.close(10, '00000001'));
    clock.now += 40;
    tap.fromServer(reply.status(10, S.OK));
    // Name space changes.
    tap.fromClient(request.rename(11, '/home/alice/up.bin', '/home/alice/final.bin'));
    tap.fromServer(reply.status(11, S.OK));
    tap.fromClient(
      request.extended(
        12,
        'posix-rename@openssh.com',
        '/home/alice/final.bin',
        '/home/alice/f.bin',
      ),
    );
    tap.fromServer(reply.status(12, S.OK));
    tap.fromClient(request.path(T.REMOVE, 13, '/home/alice/f.bin'));
    tap.fromServer(reply.status(13, S.OK));
    tap.fromClient(request.mkdir(14, '/home/alice/new', { permissions: 0o755 }));
    tap.fromServer(reply.status(14, S.OK));
    tap.fromClient(request.path(T.RMDIR, 15, '/etc'));
    tap.fromServer(reply.status(15, S.PERMISSION_DENIED, 'Permission denied'));
    tap.fromClient(
      sftpPacket(T.SYMLINK).uint32(16).string('/etc/passwd').string('/home/alice/pw').build(),
    );
    tap.fromServer(reply.status(16, S.OK));
    tap.fromClient(
      sftpPacket(T.SETSTAT)
        .uint32(17)
        .string('/home/alice/new')
        .attrs({ permissions: 0o700 })
        .build(),
    );
    tap.fromServer(reply.status(17, S.OK));
    tap.end();

    expect(events).toEqual([
      {
        type: 'sftp.open',
        path: '/home/alice/up.bin',
        mode: ['write', 'create', 'truncate'],
        pflags: PUT,
        handle: '00000000',
        ok: true,
        status: 'ok',
      },
      {
        type: 'sftp.close',
        path: '/home/alice/up.bin',
        handle: '00000000',
        mode: ['write', 'create', 'truncate'],
        bytesRead: 0,
        bytesWritten: 66536,
        writeErrors: 0,
        durationMs: 250,
        reason: 'close',
        ok: true,
        status: 'ok',
        code: 0,
      },
      {
        type: 'sftp.open',
        path: '/home/alice/down.txt',
        mode: ['read'],
        pflags: READ,
        handle: '00000001',
        ok: true,
        status: 'ok',
      },
      expect.objectContaining({
        type: 'sftp.close',
        path: '/home/alice/down.txt',
        bytesRead: 32773,
        bytesWritten: 0,
        durationMs: 40,
        ok: true,
      }),
      {
        type: 'sftp.rename',
        from: '/home/alice/up.bin',
        to: '/home/alice/final.bin',
        posix: false,
        ok: true,
        status: 'ok',
        code: 0,
      },
      {
        type: 'sftp.rename',
        from: '/home/alice/final.bin',
        to: '/home/alice/f.bin',
        posix: true,
        ok: true,
        status: 'ok',
        code: 0,
      },
      { type: 'sftp.remove', path: '/home/alice/f.bin', ok: true, status: 'ok', code: 0 },
      {
        type: 'sftp.mkdir',
        path: '/home/alice/new',
        permissions: 0o755,
        ok: true,
        status: 'ok',
        code: 0,
      },
      {
        type: 'sftp.rmdir',
        path: '/etc',
        ok: false,
        status: 'permission_denied',
        code: 3,
        message: 'Permission denied',
      },
      {
        type: 'sftp.symlink',
        linkPath: '/home/alice/pw',
        targetPath: '/etc/passwd',
        ok: true,
        status: 'ok',
        code: 0,
      },
      {
        type: 'sftp.setstat',
        path: '/home/alice/new',
        attrs: { permissions: 0o700 },
        followsLinks: true,
        ok: true,
        status: 'ok',
        code: 0,
      },
    ]);
    expect(tap.stats).toEqual({
      droppedRequests: 0,
      droppedHandles: 0,
      unmatchedResponses: 0,
      reusedRequestIds: 0,
      badPackets: 0,
      suppressedAnomalies: 0,
    });
  });

  it('reports-a-failed-open-with-the-status-code', () => {
    const { tap, events } = openSession();
    tap.fromClient(request.open(1, '/root/secret', READ));
    tap.fromServer(reply.status(1, S.PERMISSION_DENIED, 'Permission denied'));
    expect(events).toEqual([
      {
        type: 'sftp.open',
        path: '/root/secret',
        mode: ['read'],
        pflags: READ,
        ok: false,
        status: 'permission_denied',
        code: 3,
        message: 'Permission denied',
      },
    ]);
  });

  it('counts-only-acknowledged-writes-and-tallies-refused-ones', () => {
    const { tap, events } = openSession();
    tap.fromClient(request.open(1, '/full-disk', PUT));
    tap.fromServer(reply.handle(1, 'aa'));
    tap.fromClient(
      Buffer.concat([
        request.write(2, 'aa', 0, Buffer.alloc(10)),
        request.write(3, 'aa', 10, Buffer.alloc(20)),
      ]),
    );
    tap.fromServer(
      Buffer.concat([reply.status(2, S.OK), reply.status(3, S.FAILURE, 'No space left on device')]),
    );
    tap.fromClient(request.close(4, 'aa'));
    tap.fromServer(reply.status(4, S.OK));
    expect(events[1]).toMatchObject({ type: 'sftp.close', bytesWritten: 10, writeErrors: 1 });
  });

  it('matches-a-reused-request-id-first-in-first-out', () => {
    // A client that reuses id 7 must not be able to hide the first request from the audit.
    const { tap, events } = openSession();
    tap.fromClient(request.path(T.REMOVE, 7, '/important'));
    tap.fromClient(request.path(T.REMOVE, 7, '/harmless'));
    tap.fromServer(reply.status(7, S.OK));
    tap.fromServer(reply.status(7, S.NO_SUCH_FILE, 'No such file'));
    expect(events).toEqual([
      { type: 'sftp.remove', path: '/important', ok: true, status: 'ok', code: 0 },
      {
        type: 'sftp.remove',
        path: '/harmless',
        ok: false,
        status: 'no_such_file',
        code: 2,
        message: 'No such file',
      },
    ]);
    expect(tap.stats.reusedRequestIds).toBe(1);
  });

  it('tolerates-replies-without-requests', () => {
    const { tap, events } = openSession();
    tap.fromServer(
      Buffer.concat([
        reply.status(40, S.OK),
        reply.handle(41, 'bb'),
        reply.data(42, Buffer.alloc(3)),
      ]),
    );
    expect(events).toEqual([]);
    expect(tap.stats.unmatchedResponses).toBe(3);
  });

  it('reports-nothing-for-directory-handles', () => {
    const { tap, events } = openSession();
    tap.fromClient(request.path(T.OPENDIR, 1, '/home'));
    tap.fromServer(reply.handle(1, '01'));
    tap.fromClient(request.close(2, '01'));
    tap.fromServer(reply.status(2, S.OK));
    expect(events).toEqual([]);
  });

  it('names-the-file-of-an-fsetstat-by-its-handle', () => {
    const { tap, events } = openSession();
    tap.fromClient(request.open(1, '/up', PUT));
    tap.fromServer(reply.handle(1, '02'));
    tap.fromClient(
      sftpPacket(T.FSETSTAT)
        .uint32(2)
        .handle('02')
        .attrs({ permissions: 0o600, atime: 1, mtime: 2 })
        .build(),
    );
    tap.fromServer(reply.status(2, S.OK));
    expect(events[1]).toEqual({
      type: 'sftp.setstat',
      path: '/up',
      handle: '02',
      attrs: { permissions: 0o600, atime: 1, mtime: 2 },
      followsLinks: true,
      ok: true,
      status: 'ok',
      code: 0,
    });
  });

  it('reports-hardlink-and-server-side-copy', () => {
    const { tap, events } = openSession();
    tap.fromClient(request.open(1, '/src', READ));
    tap.fromServer(reply.handle(1, '01'));
    tap.fromClient(request.open(2, '/dst', PUT));
    tap.fromServer(reply.handle(2, '02'));
    tap.fromClient(
      sftpPacket(T.EXTENDED)
        .uint32(3)
        .string('copy-data')
        .handle('01')
        .uint64(0)
        .uint64(0)
        .handle('02')
        .uint64(0)
        .build(),
    );
    tap.fromServer(reply.status(3, S.OK));
    tap.fromClient(request.extended(4, 'hardlink@openssh.com', '/src', '/src-link'));
    tap.fromServer(reply.status(4, S.OK));
    expect(events.slice(2)).toEqual([
      { type: 'sftp.copy', from: '/src', to: '/dst', length: 0, ok: true, status: 'ok', code: 0 },
      { type: 'sftp.hardlink', from: '/src', to: '/src-link', ok: true, status: 'ok', code: 0 },
    ]);
  });

  it('closes-open-files-and-reports-unanswered-changes-when-the-channel-ends', () => {
    const { tap, events, clock } = openSession();
    tap.fromClient(request.open(1, '/partial', PUT));
    tap.fromServer(reply.handle(1, '03'));
    tap.fromClient(request.write(2, '03', 0, Buffer.alloc(100)));
    tap.fromServer(reply.status(2, S.OK));
    tap.fromClient(request.write(3, '03', 100, Buffer.alloc(100))); // never acknowledged
    tap.fromClient(request.path(T.REMOVE, 4, '/gone-maybe'));
    clock.now += 5;
    tap.end();
    tap.fromServer(reply.status(4, S.OK)); // after the end: ignored
    expect(events.slice(1)).toEqual([
      { type: 'sftp.remove', path: '/gone-maybe', ok: null, status: 'no_reply' },
      expect.objectContaining({
        type: 'sftp.close',
        path: '/partial',
        bytesWritten: 100,
        reason: 'channel-end',
        ok: null,
        status: 'no_reply',
        durationMs: 5,
      }),
    ]);
  });

  it('bounds-outstanding-requests-evicting-the-oldest-and-counting-it', () => {
    const { tap, events } = openSession({ maxPendingRequests: 3 });
    tap.fromClient(request.path(T.REMOVE, 1, '/one'));
    for (let id = 2; id <= 5; id += 1) tap.fromClient(request.path(T.STAT, id, '/x'));
    expect(events).toEqual([{ type: 'sftp.remove', path: '/one', ok: null, status: 'evicted' }]);
    expect(tap.stats.droppedRequests).toBe(2);
    tap.fromServer(reply.status(1, S.OK));
    expect(tap.stats.unmatchedResponses).toBe(1);
  });

  it('bounds-the-path-characters-held-by-outstanding-requests', () => {
    const { tap, events } = openSession({ maxPendingPathChars: 100, maxPathLength: 40 });
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
    const { tap, events } = openSession({ maxOpenHandles: 2 });
    for (let i = 1; i <= 3; i += 1) {
      tap.fromClient(request.open(i, `/f${i}`, READ));
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
    const { tap, events } = openSession({ maxPathLength: 8 });
    tap.fromClient(request.rename(1, '/short', `/${'x'.repeat(20)}`));
    tap.fromServer(reply.status(1, S.OK));
    expect(events[0]).toMatchObject({ from: '/short', to: '/xxxxxxx', truncated: true });
  });

  it('cuts-a-path-without-splitting-a-surrogate-pair', () => {
    const { tap, events } = openSession({ maxPathLength: 3 });
    tap.fromClient(request.path(T.REMOVE, 1, '/a😀b'));
    tap.fromServer(reply.status(1, S.OK));
    expect(events[0]).toMatchObject({ path: '/a', truncated: true });
  });

  it('reports-desync-once-per-direction-and-goes-blind', () => {
    const { tap, events } = openSession();
    expect(tap.isBlind).toBe(false);
    tap.fromClient(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]));
    tap.fromClient(request.path(T.REMOVE, 1, '/unseen'));
    expect(events).toEqual([
      {
        type: 'sftp.desync',
        direction: 'client',
        offset: request.init().byteLength,
        reason: expect.stringContaining('exceeds'),
      },
    ]);
    expect(tap.isBlind).toBe(true);
  });

  it('reports-malformed-packets-as-anomalies-up-to-a-cap', () => {
    const { tap, events } = openSession();
    for (let i = 0; i < 30; i += 1)
      tap.fromClient(sftpPacket(T.REMOVE).uint32(i).uint32(99).build());
    const anomalies = events.filter((e) => e.type === 'sftp.anomaly');
    expect(anomalies).toHaveLength(20);
    expect(anomalies[0]).toEqual({
      type: 'sftp.anomaly',
      direction: 'client',
      packetType: T.REMOVE,
      reason: expect.stringContaining('malformed: string of 99 bytes'),
    });
    expect(tap.stats).toMatchObject({ badPackets: 30, suppressedAnomalies: 10 });
  });

  it('answers-a-request-whose-reply-is-malformed-as-unexpected', () => {
    const { tap, events } = openSession();
    tap.fromClient(request.path(T.REMOVE, 1, '/a'));
    tap.fromServer(sftpPacket(T.STATUS).uint32(1).build());
    expect(events).toContainEqual({
      type: 'sftp.remove',
      path: '/a',
      ok: null,
      status: 'unexpected_reply',
    });
  });

  it('flags-a-server-that-does-not-speak-version-3', () => {
    const events: SftpAuditEvent[] = [];
    const tap = new SftpAuditTap({ onEvent: (e) => events.push(e) });
    tap.fromServer(reply.version(6));
    expect(events).toEqual([
      { type: 'sftp.anomaly', direction: 'server', reason: 'server speaks SFTP version 6' },
    ]);
  });

  it('survives-an-event-handler-that-throws', () => {
    const errors: unknown[] = [];
    const seen: string[] = [];
    const tap = new SftpAuditTap({
      onEvent: (e) => {
        seen.push(e.type);
        throw new Error('sink down');
      },
      onError: (error) => errors.push(error),
    });
    tap.fromClient(
      Buffer.concat([request.path(T.REMOVE, 1, '/a'), request.path(T.RMDIR, 2, '/b')]),
    );
    expect(() =>
      tap.fromServer(Buffer.concat([reply.status(1, S.OK), reply.status(2, S.OK)])),
    ).not.toThrow();
    expect(seen).toEqual(['sftp.remove', 'sftp.rmdir']);
    expect(errors).toHaveLength(2);
  });
});
