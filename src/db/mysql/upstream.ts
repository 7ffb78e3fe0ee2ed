import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import {
  DEFAULT_TARGET_CONNECT_TIMEOUT_MS,
  upstreamTimeoutError,
} from '../../core/target-connect.js';
import { ChannelClosedError, PacketChannel, ReadTimeoutError } from './packet-channel.js';
import {
  AuthPlugin,
  CachingSha2,
  Capability,
  Header,
  MysqlProtocolError,
  cachingSha2Scramble,
  decodeAuthSwitchRequest,
  decodeErr,
  decodeHandshakeV10,
  decodeOk,
  encodeHandshakeResponse41,
  encodeSslRequest,
  hasCapability,
  nativePasswordScramble,
  rsaEncryptPassword,
  type ErrPacket,
  type HandshakeV10,
  type Packet,
} from './protocol/index.js';

/**
 * How the connection to the target is protected, in libpq's words (the same `sslmode` target
 * label as the PostgreSQL side): `disable`; `prefer` (TLS when offered, certificate not checked:
 * the mysql client's PREFERRED); `require` (TLS or fail, not checked); `verify-ca` (checked
 * against the CA); `verify-full` (and the host name).
 */
export type UpstreamTlsMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** The `sslmode` values {@link UpstreamTlsMode} accepts. */
export const UPSTREAM_TLS_MODES: readonly UpstreamTlsMode[] = [
  'disable',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
];

/** Options of {@link connectUpstream}. */
export interface UpstreamOptions {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The leased password; the caller zeroes it afterwards. */
  readonly password: Buffer;
  readonly database?: string | undefined;
  /** Collation id to ask for (the client's). */
  readonly charset: number;
  /**
   * Capabilities the relayed client negotiated that change packet formats or semantics
   * (CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS…); those that change formats must be
   * supported by the server.
   */
  readonly clientCapabilities: number;
  /** Connection attributes sent to the server (CLIENT_CONNECT_ATTRS), if it takes them. */
  readonly attributes?: readonly (readonly [string, string])[];
  readonly tls?: {
    readonly mode: UpstreamTlsMode;
    readonly ca?: string | Buffer;
    readonly servername?: string;
  };
  /** The server's RSA public key (PEM) for caching_sha2_password without TLS; else asked for. */
  readonly serverPublicKey?: string;
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

/** The server refused the login with an ERR packet other than "access denied". */
export class UpstreamServerError extends Error {
  readonly err: ErrPacket;
  constructor(err: ErrPacket) {
    super(`target refused the connection: ${err.code} ${err.message}`);
    this.name = 'UpstreamServerError';
    this.err = err;
  }
}

/** Connect timeout when none is given: one deadline from the TCP connect to the final OK. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = DEFAULT_TARGET_CONNECT_TIMEOUT_MS;
/** Largest packet accepted during login (greeting, auth data, public key). */
const MAX_LOGIN_PACKET_BYTES = 64 * 1024;
/** max_packet_size announced to the server: 1 GiB, the protocol's ceiling. */
const MAX_PACKET_SIZE = 0x4000_0000;

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

/** Access-denied errors during login: the leased credential is wrong or the account locked. */
const ACCESS_DENIED_CODES = new Set([1045, 1698, 1251, 3118, 4151]);

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

/** The authentication exchange after the greeting (and TLS). */
class UpstreamLogin {
  readonly #channel: PacketChannel;
  readonly #o: UpstreamOptions;
  readonly #isTls: boolean;
  readonly #remaining: () => number;
  #plugin = '';
  #nonce: Buffer = Buffer.alloc(0);
  #hasRequestedKey = false;

  constructor(
    channel: PacketChannel,
    options: UpstreamOptions,
    isTls: boolean,
    remaining: () => number,
  ) {
    this.#channel = channel;
    this.#o = options;
    this.#isTls = isTls;
    this.#remaining = remaining;
  }

  /** Sends the handshake response and answers the server until OK; returns the OK packet. */
  async run(greeting: HandshakeV10, caps: number, firstSeq: number): Promise<Packet> {
    this.#plugin = isSupportedPlugin(greeting.authPluginName)
      ? greeting.authPluginName
      : AuthPlugin.NATIVE;
    this.#nonce = greeting.authPluginData;
    const response = encodeHandshakeResponse41({
      capabilities: caps,
      maxPacketSize: MAX_PACKET_SIZE,
      charset: this.#o.charset,
      username: this.#o.username,
      authResponse: this.#authResponse(),
      ...(hasCapability(caps, Capability.CONNECT_WITH_DB)
        ? { database: this.#o.database ?? '' }
        : {}),
      authPluginName: this.#plugin,
      ...(hasCapability(caps, Capability.CONNECT_ATTRS)
        ? { attributes: this.#o.attributes ?? [] }
        : {}),
    });
    let seq = this.#channel.write(response, firstSeq);
    response.fill(0);
    for (let round = 0; round < 8; round += 1) {
      const packet = await this.#channel.read(this.#remaining());
      seq = (packet.lastSeq + 1) & 0xff;
      const header = packet.payload.length > 0 ? packet.payload.readUInt8(0) : -1;
      if (header === Header.OK) return packet;
      if (header === Header.ERR) throw this.#refused(decodeErr(packet.payload));
      if (header === Header.EOF) {
        const req = decodeAuthSwitchRequest(packet.payload);
        if (!isSupportedPlugin(req.pluginName))
          throw new MysqlProtocolError(
            `target asks for unsupported authentication plugin "${req.pluginName}"`,
          );
        if (req.pluginName === AuthPlugin.CLEAR && !this.#isTls)
          throw new MysqlProtocolError('target asks for a clear-text password without TLS');
        this.#plugin = req.pluginName;
        this.#nonce = req.pluginData;
        this.#send(this.#authResponse(), seq);
        continue;
      }
      if (header === Header.AUTH_MORE_DATA) {
        this.#moreData(packet.payload.subarray(1), seq);
        continue;
      }
      throw new MysqlProtocolError(
        `unexpected packet 0x${header.toString(16)} during authentication`,
      );
    }
    throw new MysqlProtocolError('authentication did not finish');
  }

  /** What the current plugin sends first. */
  #authResponse(): Buffer {
    const password = this.#o.password;
    switch (this.#plugin) {
      case AuthPlugin.CACHING_SHA2:
        return cachingSha2Scramble(password, this.#nonce);
      case AuthPlugin.CLEAR:
        return Buffer.concat([password, Buffer.from([0])]);
      default:
        return nativePasswordScramble(password, this.#nonce);
    }
  }

  /** caching_sha2_password after the scramble: fast-auth result, full auth, the RSA key. */
  #moreData(data: Buffer, seq: number): void {
    if (this.#plugin !== AuthPlugin.CACHING_SHA2)
      throw new MysqlProtocolError('unexpected AuthMoreData');
    if (this.#hasRequestedKey) {
      this.#send(rsaEncryptPassword(this.#o.password, this.#nonce, data.toString('latin1')), seq);
      return;
    }
    const status = data.length > 0 ? data.readUInt8(0) : -1;
    if (status === CachingSha2.FAST_AUTH_SUCCESS) return;
    if (status !== CachingSha2.PERFORM_FULL_AUTH)
      throw new MysqlProtocolError(`unexpected caching_sha2_password status ${status}`);
    if (this.#isTls) {
      this.#send(Buffer.concat([this.#o.password, Buffer.from([0])]), seq);
    } else if (this.#o.serverPublicKey !== undefined) {
      this.#send(rsaEncryptPassword(this.#o.password, this.#nonce, this.#o.serverPublicKey), seq);
    } else {
      this.#hasRequestedKey = true;
      this.#send(Buffer.from([CachingSha2.REQUEST_PUBLIC_KEY]), seq);
    }
  }

  #send(payload: Buffer, seq: number): void {
    this.#channel.write(payload, seq);
    payload.fill(0);
  }

  #refused(err: ErrPacket): Error {
    if (ACCESS_DENIED_CODES.has(err.code)) {
      return new GatehouseError('GH_UPSTREAM_AUTH_FAILED', {
        detail: `${this.#o.host}:${this.#o.port}: ${err.code} ${err.message}`,
      });
    }
    return new UpstreamServerError(err);
  }
}

function ignoreError(): void {
  // The relay learns of the failure from `close`.
}

function isSupportedPlugin(name: string): boolean {
  return (
    name === AuthPlugin.NATIVE || name === AuthPlugin.CACHING_SHA2 || name === AuthPlugin.CLEAR
  );
}

function openSocket(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
    });
    const timer = setTimeout(
      () => fail(new ConnectTimeoutError(`TCP connect timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    const onAbort = (): void => fail(new ChannelClosedError('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    function fail(err: Error): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    }
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

function startTls(socket: Socket, options: UpstreamOptions, timeoutMs: number): Promise<TLSSocket> {
  const mode = options.tls?.mode ?? 'prefer';
  const isChecked = mode === 'verify-ca' || mode === 'verify-full';
  const servername =
    options.tls?.servername ?? (isIpAddress(options.host) ? undefined : options.host);
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      // With a socket given, `host` only names what the certificate must match (verify-full).
      host: options.host,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: isChecked,
      ...(options.tls?.ca === undefined ? {} : { ca: options.tls.ca }),
      ...(servername === undefined ? {} : { servername }),
      // verify-ca checks the chain only; verify-full also the name (Node's default check).
      ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new ConnectTimeoutError('TLS handshake timed out'));
    }, timeoutMs);
    timer.unref();
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.off('error', onError);
      resolve(secure);
    });
  });
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function unreachable(options: UpstreamOptions, detail: string): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    detail: `${options.host}:${options.port}: ${detail}`,
  });
}

/** The connect or TLS handshake ran out of time (a read that did is a {@link ReadTimeoutError}). */
class ConnectTimeoutError extends ChannelClosedError {}

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
