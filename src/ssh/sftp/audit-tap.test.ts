import { describe, expect, it } from 'vitest';
import type { SftpAuditEvent } from './audit-events.js';
import { SftpAuditTap } from './audit-tap.js';
import { SftpPacketType as T, SftpStatusCode as S } from './constants.js';
import { reply, request } from './testing/sftp-packets.js';

describe('SftpAuditTap', () => {
  it('never-changes-the-bytes-it-reads', () => {
    const tap = new SftpAuditTap({ onEvent: () => undefined });
    const client = Buffer.concat([
      request.init(),
      request.open(1, '/a', 1),
      request.write(2, '00', 0, Buffer.alloc(64, 9)),
    ]);
    const server = Buffer.concat([reply.version(), reply.handle(1, '00'), reply.status(2, S.OK)]);
    const before = [Buffer.from(client), Buffer.from(server)];
    tap.fromClient(client);
    tap.fromServer(server);
    expect([client, server]).toEqual(before);
  });

  it('turns-its-own-fault-into-a-desync-instead-of-throwing-into-the-relay', () => {
    const events: SftpAuditEvent[] = [];
    const errors: unknown[] = [];
    const tap = new SftpAuditTap({
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
    });
    tap.fromClient(request.init());
    // Not a chunk at all: stands in for a bug anywhere below the tap.
    expect(() => tap.fromClient(null as unknown as Uint8Array)).not.toThrow();
    expect(errors).toHaveLength(1);
    expect(events).toEqual([
      {
        type: 'sftp.desync',
        direction: 'client',
        offset: request.init().byteLength,
        reason: 'internal error while decoding',
      },
    ]);
    expect(tap.isBlind).toBe(true);
    // The broken direction is left alone; the other one still works.
    tap.fromClient(request.path(T.REMOVE, 1, '/a'));
    tap.fromServer(reply.status(1, S.OK));
    expect(tap.stats.unmatchedResponses).toBe(1);
  });

  it('flushes-open-files-once-on-end', () => {
    const events: SftpAuditEvent[] = [];
    const tap = new SftpAuditTap({ onEvent: (e) => events.push(e) });
    tap.fromClient(request.open(1, '/a', 1));
    tap.fromServer(reply.handle(1, '00'));
    tap.end();
    tap.end();
    expect(events.map((e) => e.type)).toEqual(['sftp.open', 'sftp.close']);
  });
});
