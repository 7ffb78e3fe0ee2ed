import { GatehouseError } from '../../core/errors.js';
import type { PacketChannel } from './packet-channel.js';
import {
  AuthPlugin,
  CachingSha2,
  Capability,
  Header,
  MysqlProtocolError,
  cachingSha2Scramble,
  decodeAuthSwitchRequest,
  decodeErr,
  encodeHandshakeResponse41,
  hasCapability,
  nativePasswordScramble,
  rsaEncryptPassword,
  type ErrPacket,
  type HandshakeV10,
  type Packet,
} from './protocol/index.js';

/** max_packet_size announced to the server: 1 GiB, the protocol's ceiling. */
export const MAX_PACKET_SIZE = 0x4000_0000;

/** Access-denied errors during login: the leased credential is wrong or the account locked. */
const ACCESS_DENIED_CODES = new Set([1045, 1698, 1251, 3118, 4151]);

/** The server refused the login with an ERR packet other than "access denied". */
export class UpstreamServerError extends Error {
  readonly err: ErrPacket;
  constructor(err: ErrPacket) {
    super(`target refused the connection: ${err.code} ${err.message}`);
    this.name = 'UpstreamServerError';
    this.err = err;
  }
}

/** Who logs in to the target, and with what. */
export interface UpstreamLoginOptions {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The leased password; the caller zeroes it afterwards. */
  readonly password: Buffer;
  readonly database?: string | undefined;
  /** Collation id to ask for (the client's). */
  readonly charset: number;
  /** Connection attributes sent to the server (CLIENT_CONNECT_ATTRS), if it takes them. */
  readonly attributes?: readonly (readonly [string, string])[];
  /** The server's RSA public key (PEM) for caching_sha2_password without TLS; else asked for. */
  readonly serverPublicKey?: string;
}

/** The authentication exchange after the greeting (and TLS). */
export class UpstreamLogin {
  readonly #channel: PacketChannel;
  readonly #o: UpstreamLoginOptions;
  readonly #isTls: boolean;
  readonly #remaining: () => number;
  #plugin = '';
  #nonce: Buffer = Buffer.alloc(0);
  #hasRequestedKey = false;

  constructor(
    channel: PacketChannel,
    options: UpstreamLoginOptions,
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

function isSupportedPlugin(name: string): boolean {
  return (
    name === AuthPlugin.NATIVE || name === AuthPlugin.CACHING_SHA2 || name === AuthPlugin.CLEAR
  );
}
