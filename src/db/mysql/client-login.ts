import type { KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { ChannelClosedError, PacketChannel, ReadTimeoutError } from './packet-channel.js';
import { gatehouseErr } from './errors.js';
import {
  AuthPlugin,
  CachingSha2,
  Capability,
  ErrorCode,
  MysqlProtocolError,
  ServerStatus,
  UTF8MB4_GENERAL_CI,
  clearPasswordOf,
  decodeHandshakeResponse41,
  encodeAuthMoreData,
  encodeAuthSwitchRequest,
  encodeErr,
  encodeHandshakeV10,
  encodeOk,
  hasCapability,
  isSslRequest,
  newScramble,
  rsaDecryptPassword,
  type ErrPacket,
  type HandshakeResponse41,
} from './protocol/index.js';

/**
 * Capabilities the gateway offers clients. Not offered: CLIENT_LOCAL_FILES (LOAD DATA LOCAL),
 * CLIENT_COMPRESS and zstd, CLIENT_QUERY_ATTRIBUTES (MariaDB targets lack it),
 * CLIENT_OPTIONAL_RESULTSET_METADATA, expired-password sandbox mode. CLIENT_LONG_PASSWORD set
 * means "a MySQL server" to MariaDB clients, so they use no MariaDB-only extensions.
 */
export const SERVER_CAPABILITIES =
  (Capability.LONG_PASSWORD |
    Capability.FOUND_ROWS |
    Capability.LONG_FLAG |
    Capability.CONNECT_WITH_DB |
    Capability.IGNORE_SPACE |
    Capability.PROTOCOL_41 |
    Capability.INTERACTIVE |
    Capability.IGNORE_SIGPIPE |
    Capability.TRANSACTIONS |
    Capability.SECURE_CONNECTION |
    Capability.MULTI_STATEMENTS |
    Capability.MULTI_RESULTS |
    Capability.PS_MULTI_RESULTS |
    Capability.PLUGIN_AUTH |
    Capability.CONNECT_ATTRS |
    Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Capability.SESSION_TRACK |
    Capability.DEPRECATE_EOF) >>>
  0;

/** Longest packet a client may send before it is logged in. */
const MAX_LOGIN_PACKET_BYTES = 64 * 1024;

/** Options of {@link acceptClientLogin}. */
export interface ClientLoginOptions {
  readonly serverVersion: string;
  readonly connectionId: number;
  /** TLS with the init certificate; undefined when not configured. */
  readonly tls: SecureContext | undefined;
  /** Password authentication without TLS (otherwise refused). */
  readonly allowPlaintext: boolean;
  /** RSA key pair for caching_sha2_password without TLS (only with `allowPlaintext`). */
  readonly rsa?: { readonly privateKey: KeyObject; readonly publicKeyPem: string } | undefined;
  /** Time the client has for the whole connection phase. */
  readonly timeoutMs: number;
}

/** A client that has said who it is and given its password, not yet answered. */
export interface ClientLogin {
  /** The socket from now on (TLS when upgraded). */
  readonly socket: Socket | TLSSocket;
  readonly isTls: boolean;
  readonly response: HandshakeResponse41;
  /** The secret the client gave (password or token); the caller zeroes it. */
  readonly secret: Buffer;
  /** Sends OK (login done) or ERR; closes the connection after an ERR. */
  reply(result: { ok: true; statusFlags: number } | { ok: false; err: ErrPacket }): void;
  /** Bytes received past the login (a pipelining client's first command); for the relay. */
  takeLeftover(): Buffer;
}

/** The client's login could not proceed; `err` has been sent to it when set. */
export class ClientLoginError extends Error {
  readonly err: ErrPacket | undefined;
  constructor(message: string, err?: ErrPacket) {
    super(message);
    this.name = 'ClientLoginError';
    this.err = err;
  }
}

/**
 * The connection phase as a server (dev.mysql.com "Connection Phase"): greeting with a fresh
 * scramble and caching_sha2_password, optional SSLRequest and TLS upgrade, handshake response,
 * then the password: caching_sha2_password full authentication (clear text inside TLS, or
 * RSA-encrypted when plaintext connections are allowed), mysql_clear_password, or an auth
 * switch to caching_sha2_password for clients that started with another plugin. The gateway
 * cannot check a scramble (the control plane holds no such hash): it always asks for the full
 * password, which the control plane then verifies.
 */
export async function acceptClientLogin(
  socket: Socket,
  o: ClientLoginOptions,
): Promise<ClientLogin> {
  const deadline = Date.now() + o.timeoutMs;
  const remaining = (): number => Math.max(1, deadline - Date.now());
  let channel = new PacketChannel(socket, { maxPacketBytes: MAX_LOGIN_PACKET_BYTES });
  let current: Socket | TLSSocket = socket;
  let seq = 0;
  const fail = (err: ErrPacket, why: string): ClientLoginError => {
    channel.write(encodeErr(err), seq);
    current.end();
    return new ClientLoginError(why, err);
  };
  let nonce = newScramble();
  const capabilities = (SERVER_CAPABILITIES | (o.tls === undefined ? 0 : Capability.SSL)) >>> 0;
  seq = channel.write(
    encodeHandshakeV10({
      serverVersion: o.serverVersion,
      connectionId: o.connectionId,
      authPluginData: nonce,
      capabilities,
      charset: UTF8MB4_GENERAL_CI,
      statusFlags: ServerStatus.AUTOCOMMIT,
      authPluginName: AuthPlugin.CACHING_SHA2,
    }),
    seq,
  );
  try {
    let packet = await channel.read(remaining());
    seq = (packet.lastSeq + 1) & 0xff;
    let isTls = false;
    if (isSslRequest(packet.payload)) {
      if (o.tls === undefined)
        throw fail(
          gatehouseErr(ErrorCode.HANDSHAKE_ERROR, 'TLS is not configured on this gateway'),
          'ssl-not-configured',
        );
      const leftover = channel.detach();
      if (leftover.length > 0) socket.unshift(leftover);
      current = await upgradeToTls(socket, o.tls, remaining());
      channel = new PacketChannel(current, { maxPacketBytes: MAX_LOGIN_PACKET_BYTES });
      isTls = true;
      packet = await channel.read(remaining());
      seq = (packet.lastSeq + 1) & 0xff;
    }
    let response: HandshakeResponse41;
    try {
      response = decodeHandshakeResponse41(packet.payload);
    } catch (err) {
      throw fail(
        gatehouseErr(ErrorCode.HANDSHAKE_ERROR, 'Bad handshake'),
        err instanceof Error ? err.message : 'bad handshake',
      );
    }
    if (!isTls && !o.allowPlaintext) {
      throw fail(
        gatehouseErr(
          ErrorCode.SECURE_TRANSPORT_REQUIRED,
          'connections without TLS are refused: connect with --ssl (mysql/mariadb) or ssl-mode=REQUIRED',
        ),
        'plaintext-refused',
      );
    }
    if (hasCapability(response.capabilities, Capability.COMPRESS)) {
      throw fail(
        gatehouseErr(ErrorCode.HANDSHAKE_ERROR, 'compression is not supported through Gatehouse'),
        'compression-refused',
      );
    }
    // Which plugin the client answered with decides how to get the password.
    let plugin =
      response.authPluginName ??
      (hasCapability(response.capabilities, Capability.PLUGIN_AUTH) ? '' : AuthPlugin.NATIVE);
    let data = response.authResponse;
    if (plugin === AuthPlugin.CLEAR) {
      return done(clearPasswordOf(data));
    }
    if (plugin !== AuthPlugin.CACHING_SHA2) {
      nonce = newScramble();
      seq = channel.write(
        encodeAuthSwitchRequest({ pluginName: AuthPlugin.CACHING_SHA2, pluginData: nonce }),
        seq,
      );
      const switched = await channel.read(remaining());
      seq = (switched.lastSeq + 1) & 0xff;
      plugin = AuthPlugin.CACHING_SHA2;
      data = switched.payload;
    }
    // An empty scramble is an empty password: clients do not answer a full-auth request then.
    if (data.length === 0 || (data.length === 1 && data.readUInt8(0) === 0))
      return done(Buffer.alloc(0));
    // caching_sha2_password: never a cache hit here; ask for the full password.
    seq = channel.write(encodeAuthMoreData(Buffer.from([CachingSha2.PERFORM_FULL_AUTH])), seq);
    let reply = await channel.read(remaining());
    seq = (reply.lastSeq + 1) & 0xff;
    if (isTls) return done(clearPasswordOf(reply.payload));
    if (o.rsa === undefined)
      throw fail(
        gatehouseErr(ErrorCode.ACCESS_DENIED, 'password authentication needs TLS'),
        'no-rsa-key',
      );
    if (
      reply.payload.length === 1 &&
      reply.payload.readUInt8(0) === CachingSha2.REQUEST_PUBLIC_KEY
    ) {
      seq = channel.write(encodeAuthMoreData(Buffer.from(o.rsa.publicKeyPem, 'latin1')), seq);
      reply = await channel.read(remaining());
      seq = (reply.lastSeq + 1) & 0xff;
    }
    try {
      return done(rsaDecryptPassword(reply.payload, nonce, o.rsa.privateKey));
    } catch {
      throw fail(
        gatehouseErr(ErrorCode.ACCESS_DENIED, 'password could not be decrypted'),
        'rsa-decrypt-failed',
      );
    }

    function done(secret: Buffer): ClientLogin {
      const owned = Buffer.from(secret);
      secret.fill(0);
      data.fill(0);
      return {
        socket: current,
        isTls,
        response,
        secret: owned,
        reply: (result) => {
          if (result.ok) {
            channel.write(
              encodeOk(
                { statusFlags: result.statusFlags },
                { capabilities: response.capabilities },
              ),
              seq,
            );
          } else {
            channel.write(encodeErr(result.err), seq);
            current.end();
          }
        },
        takeLeftover: () => channel.detach(),
      };
    }
  } catch (err) {
    if (err instanceof ClientLoginError) throw err;
    if (err instanceof MysqlProtocolError)
      throw fail(gatehouseErr(ErrorCode.HANDSHAKE_ERROR, 'Bad handshake'), err.message);
    if (err instanceof ReadTimeoutError) {
      // The answer to the packet the client owes: one past its sequence id.
      seq = (seq + 1) & 0xff;
      throw fail(gatehouseErr(ErrorCode.HANDSHAKE_ERROR, 'login timed out'), 'login-timeout');
    }
    current.destroy();
    throw new ClientLoginError(
      err instanceof ChannelClosedError
        ? err.message
        : `login failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function upgradeToTls(
  socket: Socket,
  context: SecureContext,
  timeoutMs: number,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new ChannelClosedError('TLS handshake timed out'));
    }, timeoutMs);
    timer.unref();
    const onError = (err: Error): void => {
      clearTimeout(timer);
      secure.destroy();
      reject(new ChannelClosedError(`TLS handshake failed: ${err.message}`));
    };
    secure.once('error', onError);
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.off('error', onError);
      secure.on('error', () => undefined);
      resolve(secure);
    });
  });
}
