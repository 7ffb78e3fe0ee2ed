import { describe, expect, it } from 'vitest';
import type { SftpAuditEvent } from './audit-events.js';
import { SftpAuditTap } from './audit-tap.js';
import { SftpPacketType as T, SftpStatusCode as S } from './constants.js';
import { openAuditSession } from './testing/audit-session.js';
import { reply, request, sftpPacket } from './testing/sftp-packets.js';

// Input the tracker cannot follow: a lost framing, malformed packets, a wrong version, a sink that throws.

describe('SftpAuditTracker anomalies', () => {
  it('reports-desync-once-per-direction-and-goes-blind', () => {
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
    const { tap, events } = openAuditSession();
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
