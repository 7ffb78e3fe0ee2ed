import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import {
  DEFAULT_TARGET_CONNECT_TIMEOUT_MS,
  upstreamTimeoutError,
} from '../../core/target-connect.js';
import { ChannelClosedError, PacketChannel, ReadTimeoutError } from './packet-channel.js';
import {
  Capability,
  Header,
  MysqlProtocolError,
  decodeErr,
  decodeHandshakeV10,
  decodeOk,
  encodeSslRequest,
  hasCapability,
  type HandshakeV10,
} from './protocol/index.js';
import {
  MAX_PACKET_SIZE,
  UpstreamLogin,
  UpstreamServerError,
  type UpstreamLoginOptions,
} from './upstream-login.js';
import { ConnectTimeoutError, openSocket, startTls, type UpstreamTls } from './upstream-socket.js';

/** Options of {@link connectUpstream}. */
export interface UpstreamOptions extends UpstreamLoginOptions {
  /**
   * Capabilities the relayed client negotiated that change packet formats or semantics
   * (CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS…); those that change formats must be
   * supported by the server.
   */
  readonly clientCapabilities: number;
  readonly tls?: UpstreamTls;
  readonly connectTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A logged-in connection to a MySQL or MariaDB server, ready for commands. */
export interface UpstreamConnection {
  readonly socket: Socket | TLSSocket;
  readonly greeting: HandshakeV10;
  /** Capabilities sent in the handshake response. */
  readonly capabilities: number;
  /** Status flags of the final OK. */
  readonly statusFlags: number;
  readonly isTls: boolean;
  /** Bytes received after the final OK (normally none); the relay reads them first. */
  readonly leftover: Buffer;
  /** The server's connection (thread) id. */
  readonly connectionId: number;
}

/** Connect timeout when none is given: one deadline from the TCP connect to the final OK. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = DEFAULT_TARGET_CONNECT_TIMEOUT_MS;
/** Largest packet accepted during login (greeting, auth data, public key). */
const MAX_LOGIN_PACKET_BYTES = 64 * 1024;
/** Capabilities the gateway always asks for. */
const BASE_CAPABILITIES =
  Capability.LONG_PASSWORD |
  Capability.PROTOCOL_41 |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.TRANSACTIONS;
/** Client capabilities passed on to the server as the client chose them. */
export const RELAYED_CAPABILITIES =
  Capability.FOUND_ROWS |
  Capability.LONG_FLAG |
  Capability.IGNORE_SPACE |
  Capability.INTERACTIVE |
  Capability.IGNORE_SIGPIPE |
  Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS |
  Capability.PS_MULTI_RESULTS |
  Capability.SESSION_TRACK |
  Capability.DEPRECATE_EOF;
/** Of those, the ones that change packet formats: both legs must agree on them. */
export const FORMAT_CAPABILITIES = Capability.SESSION_TRACK | Capability.DEPRECATE_EOF;

/**
 * Logs in to a MySQL/MariaDB server with the leased credential (dev.mysql.com "Connection
 * Phase"): TLS when offered (or required), then mysql_native_password or caching_sha2_password
 * (fast path; full path over TLS or with the server's RSA key), following auth switches.
 * Never offers CLIENT_LOCAL_FILES, compression or query attributes.
 *
 * Throws GH_UPSTREAM_UNREACHABLE (no connection, timeout, not MySQL), GH_UPSTREAM_AUTH_FAILED
 * (credential refused), or {@link UpstreamServerError} (another refusal, e.g. unknown database).
 */
export async function connectUpstream(options: UpstreamOptions): Promise<UpstreamConnection> {
  const timeoutMs = options.connectTimeoutMs ?? UPSTREAM_CONNECT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const remaining = (): number => Math.max(1, deadline - Date.now());
  const raw = await openSocket(options.host, options.port, timeoutMs, options.signal).catch(
    (err: unknown) => {
      throw toUpstreamError(err, options, timeoutMs);
    },
  );
  let socket: Socket | TLSSocket = raw;
  const onAbort = (): void => {
    socket.destroy(new ChannelClosedError('aborted'));
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let channel = new PacketChannel(raw, { maxPacketBytes: MAX_LOGIN_PACKET_BYTES });
    const first = await channel.read(remaining());
    if (first.payload.readUInt8(0) === Header.ERR)
      throw new UpstreamServerError(decodeErr(first.payload));
    const greeting = decodeGreeting(first.payload, options);
    const serverCaps = greeting.capabilities;
    const wantsTls = options.tls?.mode ?? 'prefer';
    const isTls = wantsTls !== 'disable' && hasCapability(serverCaps, Capability.SSL);
    if (wantsTls !== 'disable' && wantsTls !== 'prefer' && !isTls)
      throw unreachable(options, 'the target does not offer TLS');
    let caps = (BASE_CAPABILITIES | (options.clientCapabilities & RELAYED_CAPABILITIES)) >>> 0;
    if (hasCapability(serverCaps, Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA))
      caps |= Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA;
    if (options.database !== undefined && options.database !== '')
      caps |= Capability.CONNECT_WITH_DB;
    if (options.attributes !== undefined && hasCapability(serverCaps, Capability.CONNECT_ATTRS))
      caps |= Capability.CONNECT_ATTRS;
    if (isTls) caps |= Capability.SSL;
    caps >>>= 0;
    let seq = (first.lastSeq + 1) & 0xff;
    if (isTls) {
      seq = channel.write(
        encodeSslRequest({
          capabilities: caps,
          maxPacketSize: MAX_PACKET_SIZE,
          charset: options.charset,
        }),
        seq,
      );
      const leftover = channel.detach();
      if (leftover.length > 0)
        throw new MysqlProtocolError('server spoke before the TLS handshake');
      socket = await startTls(raw, options, remaining());
      channel = new PacketChannel(socket, { maxPacketBytes: MAX_LOGIN_PACKET_BYTES });
    }
    const login = new UpstreamLogin(channel, options, isTls, remaining);
    const ok = await login.run(greeting, caps, seq);
    const leftover = channel.detach();
    // Until the relay takes the socket over, an error must not go unhandled; `close` follows it.
    socket.on('error', ignoreError);
    return {
      socket,
      greeting,
      capabilities: caps,
      statusFlags: decodeOk(ok.payload).statusFlags,
      isTls,
      leftover,
      connectionId: greeting.connectionId,
    };
  } catch (err) {
    socket.destroy();
    raw.destroy();
    throw toUpstreamError(err, options, timeoutMs);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function decodeGreeting(payload: Buffer, options: UpstreamOptions): HandshakeV10 {
  const greeting = decodeHandshakeV10(payload);
  const caps = greeting.capabilities;
  if (
    !hasCapability(caps, Capability.PROTOCOL_41) ||
    !hasCapability(caps, Capability.SECURE_CONNECTION)
  ) {
    throw unreachable(options, 'the target does not speak MySQL protocol 4.1');
  }
  const missing = (options.clientCapabilities & FORMAT_CAPABILITIES & ~caps) >>> 0;
  if (missing !== 0)
    throw unreachable(
      options,
      `the target lacks capabilities 0x${missing.toString(16)} the client negotiated`,
    );
  return greeting;
}

function ignoreError(): void {
  // The relay learns of the failure from `close`.
}

function unreachable(options: UpstreamOptions, detail: string): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    detail: `${options.host}:${options.port}: ${detail}`,
  });
}

function toUpstreamError(err: unknown, options: UpstreamOptions, timeoutMs: number): Error {
  if (err instanceof GatehouseError || err instanceof UpstreamServerError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof ConnectTimeoutError || err instanceof ReadTimeoutError)
    return upstreamTimeoutError(`${options.host}:${options.port}`, timeoutMs, detail, err);
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    detail: `${options.host}:${options.port}: ${detail}`,
    cause: err,
  });
}
