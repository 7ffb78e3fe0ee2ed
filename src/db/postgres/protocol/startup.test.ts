import { describe, expect, it } from 'vitest';
import { MAX_STARTUP_PACKET_BYTES } from './constants.js';
import {
  parseStartupPacket,
  serializeCancelRequest,
  serializeSslRequest,
  serializeStartupMessage,
  startupPacketLength,
} from './startup.js';
import { cstr, int32, packet } from './testing/test-buffers.js';
import { PgProtocolError } from './wire.js';

describe('startup packets', () => {
  it('ssl-request-is-recognised-by-its-code', () => {
    const bytes = packet(int32(80877103));
    expect(bytes.toString('hex')).toBe('0000000804d2162f');
    expect(parseStartupPacket(bytes)).toEqual({ kind: 'ssl-request' });
    expect(serializeSslRequest()).toEqual(bytes);
  });

  it('gssenc-request-is-recognised', () => {
    expect(parseStartupPacket(packet(int32(80877104)))).toEqual({ kind: 'gssenc-request' });
  });

  it('cancel-request-carries-pid-and-secret', () => {
    const bytes = packet(int32(80877102), int32(4242), int32(-559038737));
    expect(parseStartupPacket(bytes)).toEqual({
      kind: 'cancel-request',
      key: { pid: 4242, secret: -559038737 },
    });
    expect(serializeCancelRequest({ pid: 4242, secret: -559038737 })).toEqual(bytes);
  });

  it('startup-message-keeps-parameters-in-order', () => {
    const bytes = packet(
      int32(196608),
      cstr('user'),
      cstr('alice#orders-db'),
      cstr('database'),
      cstr('app'),
      cstr('application_name'),
      cstr('psql'),
      Buffer.of(0),
    );
    const parsed = parseStartupPacket(bytes);
    expect(parsed.kind).toBe('startup');
    if (parsed.kind !== 'startup') return;
    expect(parsed.version).toBe(196608);
    expect([...parsed.params]).toEqual([
      ['user', 'alice#orders-db'],
      ['database', 'app'],
      ['application_name', 'psql'],
    ]);
    expect(serializeStartupMessage(parsed.params)).toEqual(bytes);
  });

  it('startup-message-without-final-nul-is-refused', () => {
    const bytes = packet(int32(196608), cstr('user'), cstr('alice'));
    expect(() => parseStartupPacket(bytes)).toThrow(PgProtocolError);
  });

  it('repeated-parameter-is-refused', () => {
    const bytes = packet(
      int32(196608),
      cstr('user'),
      cstr('a'),
      cstr('user'),
      cstr('b'),
      Buffer.of(0),
    );
    expect(() => parseStartupPacket(bytes)).toThrow(/repeated/);
  });

  it('cancel-request-with-extra-bytes-is-refused', () => {
    expect(() => parseStartupPacket(packet(int32(80877102), int32(1), int32(2), int32(3)))).toThrow(
      PgProtocolError,
    );
  });

  it('absurd-startup-lengths-are-refused-before-reading-the-body', () => {
    expect(startupPacketLength(Buffer.from('0000', 'hex'))).toBeUndefined();
    expect(() => startupPacketLength(int32(3))).toThrow(PgProtocolError);
    expect(() => startupPacketLength(int32(MAX_STARTUP_PACKET_BYTES + 1))).toThrow(PgProtocolError);
    expect(() => startupPacketLength(int32(-1))).toThrow(PgProtocolError);
    // An HTTP request on the port is an absurd length too ("GET " = 0x47455420).
    expect(() => startupPacketLength(Buffer.from('GET / HTTP/1.1'))).toThrow(PgProtocolError);
    expect(startupPacketLength(int32(8))).toBe(8);
  });
});
