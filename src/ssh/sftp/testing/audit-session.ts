import type { SftpAuditEvent } from '../audit-events.js';
import { SftpAuditTap, type SftpAuditTapOptions } from '../audit-tap.js';
import { request, reply } from './sftp-packets.js';

/** An SFTP audit tap past the version exchange, with a hand-moved clock and the events it reported. */
export function openAuditSession(options: Partial<SftpAuditTapOptions> = {}) {
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
