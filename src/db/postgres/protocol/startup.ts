import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  MAX_STARTUP_PACKET_BYTES,
  SSL_REQUEST_CODE,
} from './constants.js';
import { MessageWriter, PgProtocolError, WireReader } from './wire.js';

/** A backend's cancel key: the process id and secret from BackendKeyData (protocol 3.0: 4 bytes each). */
export interface CancelKey {
  readonly pid: number;
  readonly secret: number;
}

/**
 * The first packet of a connection (it has no type byte):
 * SSLRequest, GSSENCRequest, CancelRequest or StartupMessage.
 */
export type StartupPacket =
  | { readonly kind: 'ssl-request' }
  | { readonly kind: 'gssenc-request' }
  | { readonly kind: 'cancel-request'; readonly key: CancelKey }
  | {
      readonly kind: 'startup';
      /** Major in the high 16 bits, minor in the low 16 bits. */
      readonly version: number;
      /** Parameters in the order sent (`user`, `database`, `options`, GUCs, `_pq_.*`). */
      readonly params: ReadonlyMap<string, string>;
    };

/** How many bytes the startup packet starting `buf` will have, or undefined when fewer than 4 arrived. */
export function startupPacketLength(buf: Buffer): number | undefined {
  if (buf.length < 4) return undefined;
  const length = buf.readInt32BE(0);
  // PG protocol: the length counts itself; 8 is the shortest packet (SSLRequest).
  if (length < 8 || length > MAX_STARTUP_PACKET_BYTES)
    throw new PgProtocolError(`invalid startup packet length ${length}`);
  return length;
}

/** Parses one whole startup-phase packet (length included). */
export function parseStartupPacket(packet: Buffer): StartupPacket {
  const r = new WireReader(packet);
  const length = r.int32();
  if (length !== packet.length) throw new PgProtocolError('startup packet length mismatch');
  const code = r.int32();
  if (code === SSL_REQUEST_CODE) {
    r.end('SSLRequest');
    return { kind: 'ssl-request' };
  }
  if (code === GSSENC_REQUEST_CODE) {
    r.end('GSSENCRequest');
    return { kind: 'gssenc-request' };
  }
  if (code === CANCEL_REQUEST_CODE) {
    // Protocol 3.2 allows longer secrets; this proxy negotiates 3.0, so exactly 4 bytes.
    const pid = r.int32();
    const secret = r.int32();
    r.end('CancelRequest');
    return { kind: 'cancel-request', key: { pid, secret } };
  }
  const params = new Map<string, string>();
  for (;;) {
    const name = r.cstring();
    if (name === '') break;
    if (params.has(name))
      throw new PgProtocolError(`startup parameter "${name.slice(0, 64)}" repeated`);
    params.set(name, r.cstring());
  }
  r.end('StartupMessage');
  return { kind: 'startup', version: code, params };
}

/** StartupMessage for `version` (default 3.0) with `params` in order. */
export function serializeStartupMessage(
  params: Iterable<readonly [string, string]>,
  version = 0x0003_0000,
): Buffer {
  const w = new MessageWriter(undefined).int32(version);
  for (const [name, value] of params) w.cstring(name).cstring(value);
  return w.byte(0).build();
}

/** SSLRequest. */
export function serializeSslRequest(): Buffer {
  return new MessageWriter(undefined).int32(SSL_REQUEST_CODE).build();
}

/** GSSENCRequest. */
export function serializeGssEncRequest(): Buffer {
  return new MessageWriter(undefined).int32(GSSENC_REQUEST_CODE).build();
}

/** CancelRequest for the backend `key` names. */
export function serializeCancelRequest(key: CancelKey): Buffer {
  return new MessageWriter(undefined)
    .int32(CANCEL_REQUEST_CODE)
    .int32(key.pid)
    .int32(key.secret)
    .build();
}
