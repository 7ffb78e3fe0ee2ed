import { describe, expect, it } from 'vitest';
import { SftpOpenFlag as F, SftpPacketType as T, SftpStatusCode as S } from './constants.js';
import { openAuditSession } from './testing/audit-session.js';
import { reply, request, sftpPacket } from './testing/sftp-packets.js';

const READ = F.READ;
const PUT = F.WRITE | F.CREAT | F.TRUNC;

describe('SftpAuditTracker', () => {
  it('reports-a-whole-session-with-byte-counts-per-file', () => {
    const { tap, events, clock } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
    tap.fromClient(request.path(T.OPENDIR, 1, '/home'));
    tap.fromServer(reply.handle(1, '01'));
    tap.fromClient(request.close(2, '01'));
    tap.fromServer(reply.status(2, S.OK));
    expect(events).toEqual([]);
  });

  it('names-the-file-of-an-fsetstat-by-its-handle', () => {
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
    const { tap, events, clock } = openAuditSession();
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
});
