/**
 * The SFTP audit decoder: the recorded OpenSSH sftp ↔ sftp-server streams through the real
 * SftpAuditTap (packet reader, client/server decoders, tracker), chunked as recorded or as
 * the mutator re-split them. The tap must never report an internal fault (it stops decoding
 * and calls onError then) and its events must serialize.
 */
import { inspect } from 'node:util';
import { SftpAuditTap } from '../../src/ssh/sftp/audit-tap.js';
import type { FuzzTarget } from '../lib/engine.js';
import type { FuzzInput, Segment } from '../lib/input.js';
import type { LengthField } from '../lib/mutate.js';
import { FuzzFinding } from '../lib/oracle.js';

/** The SFTP audit decoder target. */
export const sftpTarget: FuzzTarget = {
  name: 'sftp',
  summary: 'SFTP audit tap: packet framing, client and server message decoding, request tracking',
  hints: {
    focus: 'c',
    lengthFields: sftpLengthFields,
    dictionary: [
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0, 0, 0, 0]),
      Buffer.from('posix-rename@openssh.com'),
      Buffer.from('copy-data'),
      Buffer.from('../'),
      Buffer.from('\0'),
    ],
  },
  run: (input) => Promise.resolve(runSftp(input)),
};

function runSftp(input: FuzzInput): void {
  const faults: unknown[] = [];
  let events = 0;
  const tap = new SftpAuditTap({
    onEvent: (event) => {
      events += 1;
      JSON.stringify(event);
    },
    onError: (error) => faults.push(error),
  });
  for (const seg of input.segments) {
    if (seg.dir === 'c') tap.fromClient(seg.data);
    else tap.fromServer(seg.data);
  }
  tap.end();
  const fault = faults[0];
  if (fault !== undefined)
    throw new FuzzFinding(
      'internal-error',
      `sftp audit tap: ${fault instanceof Error ? `${fault.name}: ${fault.message}` : inspect(fault)}`,
      { cause: fault },
    );
  void events;
}

/** Packet lengths (uint32 BE) and the string length after type and request id. */
function sftpLengthFields(seg: Segment): LengthField[] {
  const d = seg.data;
  const out: LengthField[] = [];
  let pos = 0;
  while (pos + 4 <= d.length && out.length < 64) {
    out.push({ offset: pos, width: 4, isLittleEndian: false });
    if (pos + 13 <= d.length) out.push({ offset: pos + 9, width: 4, isLittleEndian: false });
    pos += 4 + d.readUInt32BE(pos);
  }
  return out;
}
