import { describe, expect, it } from 'vitest';
import { SftpPacketType as T } from './constants.js';
import { decodeClientPacket, decodeServerPacket } from './decode.js';
import type { SftpClientMessage, SftpServerMessage } from './messages.js';
import { SftpPacketReader, type SftpPacket } from './packet-reader.js';
import { reply, request, sftpPacket } from './testing/sftp-packets.js';

const H = 'deadbeef';

function packetOf(bytes: Uint8Array): SftpPacket {
  const frames = new SftpPacketReader().push(bytes);
  const [frame] = frames;
  if (frames.length !== 1 || frame?.kind !== 'packet') throw new Error('fixture is not one packet');
  return frame;
}

const client = (bytes: Uint8Array): SftpClientMessage => decodeClientPacket(packetOf(bytes));
const server = (bytes: Uint8Array): SftpServerMessage => decodeServerPacket(packetOf(bytes));

/** A client fixture of every request type, with what it decodes to. */
const CLIENT_CASES: ReadonlyArray<readonly [Buffer, SftpClientMessage]> = [
  [
    sftpPacket(T.INIT).uint32(3).string('x@example.com').string('1').build(),
    { kind: 'init', version: 3, extensions: [{ name: 'x@example.com', data: '1' }] },
  ],
  [
    request.open(1, '/srv/report.csv', 0x1a, { permissions: 0o644 }),
    { kind: 'open', id: 1, path: '/srv/report.csv', pflags: 0x1a, attrs: { permissions: 0o644 } },
  ],
  [request.close(2, H), { kind: 'close', id: 2, handle: H }],
  [
    request.read(3, H, 2 ** 40, 32768),
    { kind: 'read', id: 3, handle: H, offset: 2 ** 40, length: 32768 },
  ],
  [
    request.write(4, H, 512, Buffer.alloc(100, 7)),
    { kind: 'write', id: 4, handle: H, offset: 512, dataLength: 100 },
  ],
  [request.path(T.LSTAT, 5, '/a'), { kind: 'lstat', id: 5, path: '/a' }],
  [sftpPacket(T.FSTAT).uint32(6).handle(H).build(), { kind: 'fstat', id: 6, handle: H }],
  [
    sftpPacket(T.SETSTAT)
      .uint32(7)
      .string('/a')
      .attrs({ size: 0, uid: 10, gid: 20, atime: 1, mtime: 2 })
      .build(),
    {
      kind: 'setstat',
      id: 7,
      path: '/a',
      attrs: { size: 0, uid: 10, gid: 20, atime: 1, mtime: 2 },
    },
  ],
  [
    sftpPacket(T.FSETSTAT).uint32(8).handle(H).attrs({ permissions: 0o600 }).build(),
    { kind: 'fsetstat', id: 8, handle: H, attrs: { permissions: 0o600 } },
  ],
  [request.path(T.OPENDIR, 9, '/d'), { kind: 'opendir', id: 9, path: '/d' }],
  [sftpPacket(T.READDIR).uint32(10).handle(H).build(), { kind: 'readdir', id: 10, handle: H }],
  [request.path(T.REMOVE, 11, '/a'), { kind: 'remove', id: 11, path: '/a' }],
  [
    request.mkdir(12, '/d', { permissions: 0o755 }),
    { kind: 'mkdir', id: 12, path: '/d', attrs: { permissions: 0o755 } },
  ],
  [request.path(T.RMDIR, 13, '/d'), { kind: 'rmdir', id: 13, path: '/d' }],
  [request.path(T.REALPATH, 14, '.'), { kind: 'realpath', id: 14, path: '.' }],
  [request.path(T.STAT, 15, '/a'), { kind: 'stat', id: 15, path: '/a' }],
  [request.rename(16, '/a', '/b'), { kind: 'rename', id: 16, oldPath: '/a', newPath: '/b' }],
  [request.path(T.READLINK, 17, '/l'), { kind: 'readlink', id: 17, path: '/l' }],
  [
    sftpPacket(T.SYMLINK).uint32(18).string('/target').string('/link').build(),
    { kind: 'symlink', id: 18, targetPath: '/target', linkPath: '/link' },
  ],
  [
    request.extended(19, 'posix-rename@openssh.com', '/a', '/b'),
    {
      kind: 'extended',
      id: 19,
      name: 'posix-rename@openssh.com',
      request: { op: 'posix-rename', oldPath: '/a', newPath: '/b' },
    },
  ],
  [
    request.extended(20, 'hardlink@openssh.com', '/a', '/b'),
    {
      kind: 'extended',
      id: 20,
      name: 'hardlink@openssh.com',
      request: { op: 'hardlink', oldPath: '/a', newPath: '/b' },
    },
  ],
  [
    request.extended(21, 'limits@openssh.com'),
    { kind: 'extended', id: 21, name: 'limits@openssh.com', request: { op: 'limits' } },
  ],
  [
    sftpPacket(T.EXTENDED).uint32(22).string('fsync@openssh.com').handle(H).build(),
    { kind: 'extended', id: 22, name: 'fsync@openssh.com', request: { op: 'fsync', handle: H } },
  ],
  [
    sftpPacket(T.EXTENDED)
      .uint32(23)
      .string('lsetstat@openssh.com')
      .string('/l')
      .attrs({ mtime: 5, atime: 4 })
      .build(),
    {
      kind: 'extended',
      id: 23,
      name: 'lsetstat@openssh.com',
      request: { op: 'lsetstat', path: '/l', attrs: { atime: 4, mtime: 5 } },
    },
  ],
  [
    sftpPacket(T.EXTENDED)
      .uint32(24)
      .string('copy-data')
      .handle('01')
      .uint64(0)
      .uint64(4096)
      .handle('02')
      .uint64(10)
      .build(),
    {
      kind: 'extended',
      id: 24,
      name: 'copy-data',
      request: {
        op: 'copy-data',
        readHandle: '01',
        readOffset: 0,
        readLength: 4096,
        writeHandle: '02',
        writeOffset: 10,
      },
    },
  ],
  [
    request.extended(25, 'statvfs@openssh.com', '/'),
    {
      kind: 'extended',
      id: 25,
      name: 'statvfs@openssh.com',
      request: { op: 'statvfs', path: '/' },
    },
  ],
  [
    request.extended(26, 'expand-path@openssh.com', '~/x'),
    {
      kind: 'extended',
      id: 26,
      name: 'expand-path@openssh.com',
      request: { op: 'expand-path', path: '~/x' },
    },
  ],
  [
    request.extended(27, 'home-directory', 'alice'),
    {
      kind: 'extended',
      id: 27,
      name: 'home-directory',
      request: { op: 'home-directory', username: 'alice' },
    },
  ],
  [
    sftpPacket(T.EXTENDED).uint32(28).string('vendor@example.com').raw(Buffer.alloc(9)).build(),
    {
      kind: 'extended',
      id: 28,
      name: 'vendor@example.com',
      request: { op: 'other', dataLength: 9 },
    },
  ],
];

/** A server fixture of every reply type, with what it decodes to. */
const SERVER_CASES: ReadonlyArray<readonly [Buffer, SftpServerMessage]> = [
  [
    reply.version(3, [
      ['posix-rename@openssh.com', '1'],
      ['limits@openssh.com', '1'],
    ]),
    {
      kind: 'version',
      version: 3,
      extensions: [
        { name: 'posix-rename@openssh.com', data: '1' },
        { name: 'limits@openssh.com', data: '1' },
      ],
    },
  ],
  [
    reply.status(1, 3, 'Permission denied'),
    { kind: 'status', id: 1, code: 3, message: 'Permission denied', language: '' },
  ],
  [reply.handle(2, H), { kind: 'handle', id: 2, handle: H }],
  [reply.data(3, Buffer.alloc(777)), { kind: 'data', id: 3, dataLength: 777 }],
  [
    sftpPacket(T.NAME)
      .uint32(4)
      .uint32(2)
      .string('a')
      .string('-rw a')
      .attrs({ size: 5 })
      .string('b')
      .string('-rw b')
      .attrs()
      .build(),
    {
      kind: 'name',
      id: 4,
      entries: [
        { filename: 'a', longname: '-rw a', attrs: { size: 5 } },
        { filename: 'b', longname: '-rw b', attrs: {} },
      ],
    },
  ],
  [
    sftpPacket(T.ATTRS)
      .uint32(5)
      .attrs({ size: 2 ** 33, permissions: 0o100644, extended: [['k', 'v']] })
      .build(),
    { kind: 'attrs', id: 5, attrs: { size: 2 ** 33, permissions: 0o100644, extended: ['k'] } },
  ],
  [
    sftpPacket(T.EXTENDED_REPLY).uint32(6).uint64(1).uint64(2).build(),
    { kind: 'extended-reply', id: 6, dataLength: 16 },
  ],
];

describe('decodeClientPacket', () => {
  it.each(CLIENT_CASES.map(([bytes, message]) => [message.kind, bytes, message] as const))(
    'decodes-a-%s-request',
    (_kind, bytes, message) => {
      expect(client(bytes)).toEqual(message);
    },
  );

  it('reads-symlink-arguments-in-openssh-order-target-first', () => {
    // OpenSSH PROTOCOL §3.1: the reverse of filexfer-02, and what sftp-server acts on.
    expect(
      client(sftpPacket(T.SYMLINK).uint32(1).string('points-here').string('new-link').build()),
    ).toMatchObject({
      targetPath: 'points-here',
      linkPath: 'new-link',
    });
  });

  it('ignores-trailing-bytes-as-openssh-does-so-a-request-cannot-hide-behind-them', () => {
    const bytes = sftpPacket(T.REMOVE)
      .uint32(3)
      .string('/etc/important')
      .raw(Buffer.from('junk'))
      .build();
    expect(client(bytes)).toEqual({ kind: 'remove', id: 3, path: '/etc/important' });
  });

  it('decodes-invalid-utf8-lossily-and-keeps-a-leading-bom', () => {
    const bytes = sftpPacket(T.REMOVE)
      .uint32(1)
      .string(Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62]))
      .build();
    expect(client(bytes)).toEqual({ kind: 'remove', id: 1, path: '\ufeffa\ufffdb' });
  });

  it('counts-write-data-without-keeping-it-and-refuses-data-longer-than-the-packet', () => {
    const good = request.write(1, H, 0, Buffer.alloc(64 * 1024));
    expect(client(good)).toMatchObject({ kind: 'write', dataLength: 64 * 1024 });
    const lying = sftpPacket(T.WRITE)
      .uint32(2)
      .handle(H)
      .uint64(0)
      .uint32(1000)
      .raw(Buffer.alloc(10))
      .build();
    expect(client(lying)).toEqual({
      kind: 'malformed',
      type: T.WRITE,
      id: 2,
      reason: 'data of 1000 bytes with 10 left',
    });
  });

  it('refuses-a-handle-longer-than-256-bytes', () => {
    const bytes = sftpPacket(T.CLOSE).uint32(1).string(Buffer.alloc(257)).build();
    expect(client(bytes)).toMatchObject({
      kind: 'malformed',
      id: 1,
      reason: 'handle of 257 bytes (max 256)',
    });
    expect(
      client(sftpPacket(T.CLOSE).uint32(1).string(Buffer.alloc(256, 1)).build()),
    ).toMatchObject({ kind: 'close' });
  });

  it('refuses-a-string-that-runs-past-the-packet', () => {
    const bytes = sftpPacket(T.OPEN).uint32(5).uint32(0xffffffff).raw(Buffer.from('/a')).build();
    expect(client(bytes)).toMatchObject({ kind: 'malformed', type: T.OPEN, id: 5 });
  });

  it('refuses-an-absurd-extended-attribute-count-without-looping-on-it', () => {
    const bytes = sftpPacket(T.SETSTAT)
      .uint32(1)
      .string('/a')
      .uint32(0x80000000)
      .uint32(0xffffffff)
      .build();
    expect(client(bytes)).toMatchObject({
      kind: 'malformed',
      reason: '4294967295 extended attributes cannot fit',
    });
  });

  it('calls-server-packet-types-from-the-client-unknown', () => {
    expect(client(reply.status(1, 0))).toEqual({ kind: 'unknown', type: T.STATUS });
    expect(client(sftpPacket(99).build())).toEqual({ kind: 'unknown', type: 99 });
  });

  it('never-throws-on-any-truncation-of-any-request', () => {
    for (const [bytes] of CLIENT_CASES) {
      for (let cut = 0; cut < bytes.byteLength - 5; cut += 1) {
        const body = bytes.subarray(5, 5 + cut);
        const type = bytes.readUInt8(4);
        const message = decodeClientPacket({
          kind: 'packet',
          type,
          bodyLength: cut,
          body,
          offset: 0,
        });
        // Every field is required, except INIT's extension pairs and an unknown extension's data.
        const mayParse =
          message.kind === 'init' ||
          (message.kind === 'extended' && message.request.op === 'other');
        if (!mayParse) expect(message).toMatchObject({ kind: 'malformed', type });
      }
    }
  });
});

describe('decodeServerPacket', () => {
  it.each(SERVER_CASES.map(([bytes, message]) => [message.kind, bytes, message] as const))(
    'decodes-a-%s-reply',
    (_kind, bytes, message) => {
      expect(server(bytes)).toEqual(message);
    },
  );

  it('accepts-a-status-without-message-or-language', () => {
    expect(server(sftpPacket(T.STATUS).uint32(9).uint32(1).build())).toEqual({
      kind: 'status',
      id: 9,
      code: 1,
      message: '',
      language: '',
    });
  });

  it('refuses-a-name-count-the-packet-cannot-hold', () => {
    expect(server(sftpPacket(T.NAME).uint32(1).uint32(1_000_000).build())).toMatchObject({
      kind: 'malformed',
      id: 1,
      reason: '1000000 names cannot fit',
    });
  });

  it('reports-a-packet-too-short-for-its-id-as-malformed-without-id', () => {
    expect(server(sftpPacket(T.HANDLE).byte(1).build())).toEqual({
      kind: 'malformed',
      type: T.HANDLE,
      reason: 'uint32 at offset 0 runs past the end (1 left)',
    });
  });

  it('never-throws-on-any-truncation-of-any-reply', () => {
    for (const [bytes] of SERVER_CASES) {
      for (let cut = 0; cut < bytes.byteLength - 5; cut += 1) {
        const type = bytes.readUInt8(4);
        const body = bytes.subarray(5, 5 + cut);
        expect(() =>
          decodeServerPacket({ kind: 'packet', type, bodyLength: cut, body, offset: 0 }),
        ).not.toThrow();
      }
    }
  });
});
